#!/usr/bin/env bash
# The load measurement lives in bench/ (bench/load.sh, run by `make load`);
# this name stays for the commands and notes that call it.
exec "$(dirname "$0")/../bench/load.sh" "$@"
