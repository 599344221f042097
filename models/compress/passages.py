"""The fixed texts every compressed language model is measured on (written for lmgen).

One English and one Korean passage of everyday prose, a few hundred tokens each, so a
perplexity difference between two quantization types is a difference of the weights alone.
"""

ENGLISH = (
    "Every morning the bakery on the corner opens at seven. The owner arrives an hour earlier to "
    "switch on the ovens, and by the time the first customers come in, the shelves are full of warm "
    "bread. Most people buy a loaf on their way to work; some stay for a coffee and read the news at "
    "the small table by the window. On rainy days the shop is quieter, so she bakes fewer rolls and "
    "spends the extra time writing next week's order for flour and butter. Her son helps on weekends. "
    "He is saving money for a new bicycle, and he has learned to count change faster than his mother. "
    "When the shop closes in the afternoon, whatever bread is left goes to the shelter down the street, "
    "because she does not like to throw food away."
)

KOREAN = " ".join(
    [
        "우리 동네 도서관은 아침 아홉 시에 문을 연다.",
        "평일 오전에는 주로 나이 드신 분들이 신문을 읽으러 오고,"
        " 오후가 되면 학교를 마친 학생들이 숙제를 하러 모여든다.",
        "나는 주말마다 이곳에 와서 한 주 동안 읽을 책을 빌린다.",
        "지난주에는 요리책 두 권과 여행 안내서 한 권을 골랐다.",
        "도서관 직원은 늘 친절하게 새로 들어온 책을 알려 주고,"
        " 찾는 책이 없으면 다른 도서관에서 빌려다 주기도 한다.",
        "창가 자리는 햇볕이 잘 들어서 겨울에도 따뜻하다.",
        "책을 읽다가 배가 고파지면 길 건너 작은 식당에서 칼국수를 먹고 다시 돌아온다.",
        "저녁이 되면 도서관 앞 공원에는 산책하는 사람들이 많아진다.",
    ]
)

PASSAGES = {"en": ENGLISH, "ko": KOREAN}
