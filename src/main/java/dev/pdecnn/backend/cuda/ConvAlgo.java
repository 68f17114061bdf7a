package dev.pdecnn.backend.cuda;

/** How convolutions run: implicit GEMM (tiled, for grouped convs with many channels per group) or direct. */
public enum ConvAlgo { AUTO, DIRECT, GEMM }
