"""BERT engine: WordPiece tokenizer, MLM + NSP pre-training, fill-mask, next-sentence and
pseudo-perplexity scoring, bias probe. Built on ``transformers`` and ``tokenizers``; imports no
LangChain."""
