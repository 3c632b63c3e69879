"""mateval: LLaMat's evaluation, run on your checkpoints and put beside the paper's numbers (`python -m eval --help`)."""
