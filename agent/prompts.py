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

# The router's slow path: the expert labels a request it was unsure of (output is grammar-constrained).
JUDGE_PROMPT = (
    "Label the user's request for a router.\n"
    "intent: fill_mask (fill a [MASK] with BERT), nsp (does one sentence follow another), ppl (perplexity "
    "of a given text with the n-gram model), image (draw or generate images/digits/faces), rag (a question "
    "about the user's own documents or notes), chat (anything else).\n"
    "route: generalist for multi-step reasoning, proofs, maths, code, long or creative writing, detailed "
    "explanations or comparisons; expert for greetings, small talk, short facts, short definitions and "
    "plain tool requests.\n"
    'Answer with JSON only, e.g. {"intent": "chat", "route": "expert"}.'
)

# A plain tool request: the expert fills the tool's arguments (the reply is grammar-constrained JSON).
FILL_ARGS_PROMPT = (
    "You fill in the arguments of the tool `{name}` for the user's request.\n"
    "Tool: {description}\n"
    "Arguments:\n{arguments}\n"
    "Copy texts and sentences exactly as the user wrote them, without the quote marks; never invent "
    "text that is not in the request. Leave out optional arguments the user did not ask for."
)
CLARIFY = {
    "score_perplexity": "Which text should I score? Put it in quotes, e.g. What is the perplexity of "
    '"To be, or not to be"? / 점수를 매길 문장을 따옴표로 알려 주세요.',
    "fill_mask": 'Write the sentence with [MASK] where the missing word goes, e.g. "I [MASK] coffee." / '
    "빈칸 자리에 [MASK]를 넣은 문장을 보내 주세요.",
    "next_sentence": 'Give me the two sentences, each in quotes, e.g. "It rained." and "The streets were '
    'wet." / 두 문장을 각각 따옴표로 묶어 보내 주세요.',
    "generate_images": "Which model should draw (ae, vae, gan, ddpm or faces), and which digit? / 어떤 "
    "모델로(ae, vae, gan, ddpm, faces) 어떤 숫자를 그릴까요?",
}
TOOL_FAILED = "The tool {name} could not run: {reason}"

# The generalist's tool loop.
AGENT_PROMPT = (
    "You are lmgen's planner. To serve the user's request you may call these tools, one at a time "
    "(at most {limit} calls):\n{tools}\n"
    "Call a tool for each measurement the request needs (e.g. each sentence to score or fill), then choose "
    "'answer'. Never call the same tool twice with the same arguments."
)
STEPS_SO_FAR = "Tool calls so far:\n{steps}"
NO_STEPS_YET = "(none yet)"
FILL_NEXT = (
    "Now fill in the arguments of `{name}` for the next measurement the request needs. Copy texts exactly "
    "from the request, without quote marks; leave out an optional argument the request does not ask "
    "for.\nArguments:\n{arguments}"
)
ALREADY_DONE = (
    "`{name}` was already called with {args}: its result is in the tool calls so far. Fill in the "
    "arguments for a measurement the request needs that has not been made yet."
)
ANSWER_FROM_STEPS = (
    "Request: {request}\n\nResults of the tools lmgen ran for it:\n{steps}\n\n"
    "Answer the request using these results: quote the key numbers, compare them if asked, and explain "
    "briefly what they show. Answer in the language of the request."
)

# Conversation memory: older turns are summarized by the expert instead of dropped.
SUMMARY_PROMPT = (
    "Summarize the conversation in at most 60 words for your own memory: keep names, facts the user gave, "
    "questions asked and answers given. Write the summary only."
)
SUMMARY_IN_PROMPT = "Summary of the earlier conversation: {summary}"
