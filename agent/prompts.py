"""Prompt constants (and nothing else)."""

# Small models take "Korean or English" in a system prompt as a cue to answer in Korean; naming
# the rule per language keeps replies in the user's language (checked on the 0.5B expert).
SYSTEM_PROMPT = (
    "You are lmgen, a concise and accurate assistant about language models and generative models. "
    "Reply in the language the user writes in: English questions get English answers, Korean questions "
    "get Korean answers. Say so when you are not sure instead of guessing."
)

FALLBACK_NOTICE = "The generalist ({generalist}) is unavailable ({reason}); the expert answered instead."

EMPTY_KB_NOTICE = "the knowledge base is empty: add documents with `lmgen rag ingest PATH`"

INJECTION_NOTICE = (
    "{n} retrieved passage(s) contained instructions addressed to the model; "
    "they were removed and not followed."
)
