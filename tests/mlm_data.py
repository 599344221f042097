"""A tiny bilingual document set and model size for fast BERT tests."""

from lmgen.models.mlm.pretrain import PretrainConfig

EN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a bird sang in the tree",
    "my lord the king is here",
    "the queen will come tomorrow",
    "we shall go to the sea",
    "the ship sails at dawn",
]
KO = [
    "나는 학교에 갑니다",
    "파일을 열고 저장합니다",
    "대한민국은 민주공화국이다",
    "모든 국민은 법 앞에 평등하다",
    "문서를 인쇄하려면 메뉴를 선택합니다",
]
DOCS = [EN[:4], EN[4:], KO[:3], KO[3:], [*EN[:2], *KO[:2]]]
TINY = PretrainConfig(
    hidden_size=32,
    num_layers=2,
    num_heads=2,
    intermediate_size=64,
    max_length=32,
    vocab_size=300,
    steps=6,
    batch_size=4,
    learning_rate=1e-3,
    save_every=3,
)
