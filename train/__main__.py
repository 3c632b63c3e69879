"""`python -m train CONFIG [key=value ...]`: the trainer (train/run.sh launches this under torchrun)."""

import sys

from train.trainer import main

sys.exit(main(sys.argv[1:]))
