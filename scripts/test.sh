#!/usr/bin/env bash
# The test command: installs what the tests need, then runs formatting and
# lint checks and every test (unit tests and the integration tests against
# real Redis processes and real containers). With CI=true a missing Docker
# engine fails the Docker tests instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
