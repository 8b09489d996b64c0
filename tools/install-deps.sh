#!/bin/sh
# Installs the Debian 12 packages dicomaid needs to build, run and test. Run as root.
# clang and libclang-rt-14-dev: the libFuzzer targets (make fuzz), run by .ci/run.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
	build-essential autoconf automake pkg-config ca-certificates \
	libuv1-dev libsqlite3-dev sqlite3 libinih-dev zlib1g-dev \
	libprotobuf-c-dev protobuf-c-compiler libopenblas-dev \
	libdcmtk-dev dcmtk libsndfile1-dev libtiff-dev libssl-dev libisal-dev \
	libcriterion-dev python3-pydicom python3-numpy python3-pil openssl mandoc dicom3tools libsystemd-dev systemd \
	clang libclang-rt-14-dev >/dev/null
