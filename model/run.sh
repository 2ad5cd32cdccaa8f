#!/usr/bin/env bash
# model/run.sh - every protocol model, checked exhaustively with spin
# (make models; a step of make test):
#   wake.sh code broken   the sleep/wake handshake (wake.pml): the model of
#                         the C code must pass, and each deliberately
#                         broken variant must be caught
#   fj.sh quick           the fork-join split deque (fj.pml)
#   queue.sh              the blocking queue's sleep/wake handshake
#                         (queue.pml): the model of src/queue.c must pass,
#                         and each deliberately broken variant must be caught
# Each script installs spin when it is missing and it can.  Exit status: 0
# when every check went as it must, 1 otherwise.
set -u
cd "$(dirname "$0")" || exit 1
rc=0
bash ./wake.sh code broken || rc=1
if [ -f ./fj.sh ]; then
    bash ./fj.sh quick || rc=1
fi
bash ./queue.sh || rc=1
exit $rc
