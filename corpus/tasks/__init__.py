"""Task definitions shared by the two layers above: qa_synth makes training pairs from them and eval makes test
items from them, so a task's prompt, answer and train/test split are written once.

- `pairs`: the QA record (`QAPair`) and the deterministic split of datasets that ship without one.
- `crystal`: LLaMat's crystal tasks (eight understanding tasks on a CIF, and crystal-string generation).
- `matsci_nlp`: the MatSci-NLP tasks in LLaMat's MatNLP format.
"""
