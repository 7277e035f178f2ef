#!/usr/bin/env bash
# Builds the demo image for S-mode and boots it on QEMU's virt machine under
# QEMU's default firmware (OpenSBI), which starts it at 0x8020_0000. The exit
# status is the image's: 0 when the self-test and the billion-sum pass.
# Extra arguments go to cargo, e.g. `--features fail-demo`.
#
# (M-mode needs no script: `cargo run --release --target
# riscv64gc-unknown-none-elf -p copyjit-riscv64-demo` uses the runner in
# .cargo/config.toml, which passes `-bios none`.)
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo run --release --target riscv64gc-unknown-none-elf -p copyjit-riscv64-demo \
    --features smode \
    --config 'target.riscv64gc-unknown-none-elf.runner = "qemu-system-riscv64 -machine virt -nographic -kernel"' \
    "$@"
