# syntax=docker/dockerfile:1
# The trainer as a GPU image (docs/gpu.md):
#   build   - JDK 17, Maven and the CUDA 11.8 toolkit: nvcc regenerates the kernels (PTX + fatbins for
#             sm_80/sm_90) for CUDA 11.8 drivers, Maven builds the shaded jar (target/trainer.jar);
#   runtime - the CUDA 11.8 + cuDNN 8 runtime base (cuBLAS 11, cuRAND 10, cuDNN 8: what JCuda 11.7.0 binds),
#             a JRE 17 and the jar. The NVIDIA driver (libcuda.so.1) comes from the host: docker run --gpus all.
#
#   docker build -t pde-trainer .
#   docker run --gpus all --rm -v "$PWD/data:/data:ro" -v "$PWD/runs:/work/runs" pde-trainer \
#       --device 0 --model resnet32_global --data-dir /data/cifar10
ARG CUDA_VERSION=11.8.0
ARG UBUNTU=ubuntu22.04

FROM nvidia/cuda:${CUDA_VERSION}-cudnn8-devel-${UBUNTU} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pom.xml ./
COPY tools/ tools/
COPY src/ src/
# build-kernels.sh regenerates src/main/resources/kernels with this toolkit's nvcc (the committed ones come from
# nvcc 13 and need a CUDA 13 driver); Maven's --if-stale check then finds them current and packages the jar.
RUN --mount=type=cache,target=/root/.m2 \
    tools/cuda/build-kernels.sh \
    && mvn -B -q package -DskipTests \
    && test -f target/trainer.jar

FROM nvidia/cuda:${CUDA_VERSION}-cudnn8-runtime-${UBUNTU} AS runtime
# fontconfig and a font: the trainer draws its curves.png with Java2D text
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
       fontconfig fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/trainer.jar /app/trainer.jar
COPY configs/ /app/configs/
WORKDIR /work
ENTRYPOINT ["java", "-jar", "/app/trainer.jar"]
CMD ["--help"]
