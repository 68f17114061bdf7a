# The trainer as an image for NVIDIA hosts (docs/gpu.md, section Docker). It needs no CUDA toolkit or CUDA base
# image: the trainer reaches the GPU through the driver API with its own committed kernels (JCuda's natives link
# the CUDA runtime statically), and `docker run --gpus all` puts the host's driver into the container.
#   build   - Debian bookworm, JDK 17 and Maven: packages target/trainer.jar (the Maven build keeps the committed
#             kernels, there is no nvcc) and jlinks a small Java runtime holding only the modules the trainer uses;
#   runtime - Debian bookworm, that runtime, fonts for the plots, the jar and configs/, a non-root user.
#
#   docker build -t pde-trainer .
#   docker run --gpus all --rm -v "$PWD/data:/data:ro" -v "$PWD/runs:/work/runs" pde-trainer \
#       --device 0 --model resnet32_global --data-dir /data/cifar10
#
# Behind a TLS-intercepting proxy, put its CA certificates (*.crt) into docker/ca-certificates/ before building.
# No "# syntax=" line and no BuildKit-only instructions: the classic builder builds this without any registry
# when debian:bookworm-slim exists locally (tools/docker/test-image.sh makes it with debootstrap).

FROM debian:bookworm-slim AS build
# extra CA certificates first, so that the JDK's trust store (built when the JDK is installed) holds them too
COPY docker/ca-certificates/ /usr/local/share/ca-certificates/
# (man1: the JDK's postinst links its man pages there, and slim images drop /usr/share/man)
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates openjdk-17-jdk-headless maven \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pom.xml ./
COPY tools/ tools/
COPY src/ src/
RUN mvn -B -q -DskipTests package \
    && test -f target/trainer.jar
# a Java runtime of the modules the jar uses, as jdeps finds them (java.desktop: Java2D and ImageIO for the plots;
# java.net.http: data downloads; jdk.unsupported: sun.misc.Signal for SIGTERM, JCuda, JavaCPP; ...), plus
# jdk.crypto.ec for TLS. --strip-java-debug-attributes, not --strip-debug: that needs objcopy (binutils).
RUN modules="$(jdeps --ignore-missing-deps --multi-release 17 --print-module-deps target/trainer.jar),jdk.crypto.ec" \
    && echo "jlink modules: $modules" \
    && jlink --add-modules "$modules" --strip-java-debug-attributes --no-man-pages --no-header-files \
             --compress=2 --output /opt/jre \
    && /opt/jre/bin/java -version

FROM debian:bookworm-slim AS runtime
ARG VERSION=0.1.0-SNAPSHOT
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="pde-trainer" \
      org.opencontainers.image.description="Trainer for PDE-condensed CNNs (CPU, or NVIDIA GPUs with docker run --gpus all)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="NOASSERTION"
# the shared libraries of the runtime's java.desktop (fonts, images, colour management) and the native BLAS/JCuda
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       fontconfig fonts-dejavu-core libfreetype6 libharfbuzz0b liblcms2-2 libjpeg62-turbo libpng16-16 libgif7 \
       libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && fc-cache -f \
    && useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin trainer \
    && mkdir -p /work/runs /data \
    && chown trainer:trainer /work /work/runs
COPY --from=build /opt/jre /opt/jre
COPY --from=build /src/target/trainer.jar /app/trainer.jar
COPY configs/ /app/configs/
# the NVIDIA container toolkit mounts the host's driver (libcuda.so.1, nvidia-smi) when these are set;
# caches go to /tmp so that any --user uid works, also one without a home folder
ENV PATH=/opt/jre/bin:$PATH \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    XDG_CACHE_HOME=/tmp/.cache
USER trainer
WORKDIR /work
VOLUME ["/data", "/work/runs"]
ENTRYPOINT ["java", "-Djava.awt.headless=true", "-jar", "/app/trainer.jar"]
CMD ["--help"]
