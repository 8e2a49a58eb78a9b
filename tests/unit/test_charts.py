"""Dashboard charts are self-contained SVG: well-formed, accessible, escaped, and allowed by a strict CSP."""

import re
import xml.etree.ElementTree as ET

import pytest

from lac_service.web.charts import MAX_X_LABELS, NO_DATA, Bar, Point, Unit, bar_chart, line_chart

NS = {"svg": "http://www.w3.org/2000/svg"}
BARS = [Bar("Groupe A", 12), Bar("Groupe B", 3), Bar("Groupe C", 12.5), Bar("Groupe D", 0)]
REQUESTS, DAYS = Unit("demande", "demandes"), Unit("jour", "jours")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def of_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{{{NS['svg']}}}{tag}") if e.get("class") == cls]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [e.text or "" for e in of_class(root, "text", cls)]


def desc(root: ET.Element) -> str:
    return root.find("svg:desc", NS).text


def axis_top(svg: str) -> str:
    return texts(parse(svg), "tick")[-1]


def test_one_bar_per_value_with_heights_proportional_to_the_values():
    root = parse(bar_chart(BARS, title="Demandes par groupe", unit=REQUESTS))
    rects = of_class(root, "rect", "bar")
    assert len(rects) == len(BARS)
    heights = [float(r.get("height")) for r in rects]
    assert heights[2] == max(heights), "the tallest bar is the one of the largest value"
    assert heights[3] == 0
    for bar, height in zip(BARS, heights, strict=True):
        assert height / heights[2] == pytest.approx(bar.value / 12.5, abs=1e-3)
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 2) for r in rects}
    assert len(bottoms) == 1, "every bar stands on the same baseline"


def test_values_and_ticks_are_written_the_french_way():
    root = parse(bar_chart(BARS, title="Demandes", unit=REQUESTS))
    assert texts(root, "value") == ["12", "3", "12,5", "0"]
    assert texts(root, "x-label") == ["Groupe A", "Groupe B", "Groupe C", "Groupe D"]
    assert texts(root, "tick") == ["0", "5", "10", "15", "20"]
    assert texts(root, "unit") == ["demandes"]
    assert texts(parse(bar_chart([Bar("x", 0.75)], title="t")), "tick") == ["0", "0,2", "0,4", "0,6", "0,8", "1"]


def test_the_description_lists_every_label_and_value_with_the_unit():
    svg = bar_chart(BARS, title="Demandes par groupe", unit=REQUESTS)
    root = parse(svg)
    assert desc(root) == (
        "Groupe A : 12 demandes ; Groupe B : 3 demandes ; Groupe C : 12,5 demandes ; Groupe D : 0 demande"
    )
    assert root.find("svg:title", NS).text == "Demandes par groupe"
    assert list(root)[0].tag.endswith("title") and list(root)[1].tag.endswith("desc")
    chart_id = root.find("svg:title", NS).get("id").removesuffix("-title")
    assert re.fullmatch(r"chart-[0-9a-f]{8}", chart_id)
    assert root.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
    assert root.find("svg:desc", NS).get("id") == f"{chart_id}-desc"
    assert root.get("role") == "img" and root.get("class") == "chart" and root.get("viewBox") == "0 0 360 240"

    line = parse(line_chart([Point("janv.", 4), Point("févr.", None), Point("mars", 1.5), Point("avr.", 1.96)],
                            title="Délai", unit=DAYS))
    assert desc(line) == "janv. : 4 jours ; févr. : aucune donnée ; mars : 1,5 jour ; avr. : 2 jours", \
        "singular below 2, as French says it, after rounding to what is written"
    assert desc(parse(bar_chart([Bar("A", 1)], title="t"))) == "A : 1", "no unit, nothing appended"


def test_hostile_text_is_escaped_never_markup():
    hostile = '<script>&"\'\x01'
    svg = bar_chart([Bar(hostile, 1)], title=hostile, unit=Unit(hostile, hostile))
    root = parse(svg)
    assert "<script" not in svg
    assert "&lt;script&gt;&amp;&quot;" in svg
    assert texts(root, "x-label") == ['<script>&"\'']
    assert root.find("svg:title", NS).text == '<script>&"\''
    for element in root.iter():
        assert element.tag.split("}")[1] in {"svg", "title", "desc", "text", "rect", "line"}
    parse(line_chart([Point(hostile, 1), Point("b", 2)], title=hostile))


def all_outputs() -> list[str]:
    return [
        bar_chart(BARS, title="Demandes", unit=REQUESTS),
        bar_chart([], title="Vide"),
        bar_chart([Bar("A", 0), Bar("B", 0)], title="Zéros"),
        line_chart([Point(f"m{i}", i % 7 or None) for i in range(36)], title="Mois", unit=DAYS),
        line_chart([], title="Vide"),
        line_chart([Point("a", None), Point("b", 0)], title="Rien"),
    ]


@pytest.mark.parametrize("svg", all_outputs())
def test_the_output_is_allowed_by_a_strict_content_security_policy(svg):
    root = parse(svg)
    assert "<script" not in svg.lower()
    assert "style" not in svg.lower()
    assert "href" not in svg
    for element in root.iter():
        assert not [name for name in element.attrib if name.lower().startswith("on")], "no event handler"
    assert re.findall(r"https?://[^\s\"']*", svg) == ["http://www.w3.org/2000/svg"]


@pytest.mark.parametrize(
    "svg",
    [
        bar_chart([], title="Vide"),
        bar_chart([Bar("A", 0), Bar("B", 0)], title="Zéros", unit=REQUESTS),
        line_chart([], title="Vide"),
        line_chart([Point("a", None), Point("b", None)], title="Rien"),
        line_chart([Point("a", 0), Point("b", None), Point("c", 0)], title="Zéros"),
    ],
)
def test_no_data_still_renders_a_chart_saying_so(svg):
    root = parse(svg)
    assert texts(root, "no-data") == [NO_DATA]
    assert not of_class(root, "rect", "bar") and not of_class(root, "polyline", "line")
    assert root.find("svg:title", NS).text and desc(root)


def test_the_no_data_description_still_lists_what_was_given():
    assert desc(parse(bar_chart([], title="Vide"))) == NO_DATA
    assert desc(parse(bar_chart([Bar("A", 0)], title="Zéro", unit=REQUESTS))) == "A : 0 demande"


@pytest.mark.parametrize(
    ("values", "lines", "dots"),
    [
        ([1, None, 3, 4], 1, 3),  # the lone 1 is a dot only, 3–4 a line
        ([1, 2, None, 3, 4], 2, 4),
        ([None, 5, None], 0, 1),
        ([1, 2, 3], 1, 3),
        ([None, 1, 2, None, None, 3, None, 4, 5, 6], 2, 6),
    ],
)
def test_a_missing_month_is_a_gap_and_a_lone_value_a_dot(values, lines, dots):
    root = parse(line_chart([Point(f"m{i}", v) for i, v in enumerate(values)], title="Délai"))
    polylines = of_class(root, "polyline", "line")
    assert len(polylines) == lines
    assert len(of_class(root, "circle", "dot")) == dots
    for polyline in polylines:
        assert len(polyline.get("points").split()) >= 2
        assert polyline.get("fill") == "none"


def test_line_points_sit_at_heights_proportional_to_their_values():
    root = parse(line_chart([Point("a", 0), Point("b", 10), Point("c", 5)], title="t"))
    baseline = float(of_class(root, "line", "grid")[0].get("y1"))
    rises = [baseline - float(c.get("cy")) for c in of_class(root, "circle", "dot")]
    assert rises[0] == 0 and rises[2] == pytest.approx(rises[1] / 2, abs=1e-2)
    xs = [float(c.get("cx")) for c in of_class(root, "circle", "dot")]
    assert xs == sorted(xs)


@pytest.mark.parametrize(
    ("peak", "top"),
    [(37, "50"), (3, "5"), (1, "1"), (1.2, "2"), (0.3, "1"), (50, "50"), (51, "100"), (12.5, "20"), (999, "1000")],
)
def test_the_axis_tops_at_a_nice_number(peak, top):
    assert axis_top(bar_chart([Bar("a", peak), Bar("b", 0)], title="t")) == top
    assert axis_top(line_chart([Point("a", peak), Point("b", None)], title="t")) == top


@pytest.mark.parametrize("peak", [1, 2, 3, 7, 37, 150, 0.4])
def test_the_axis_has_four_or_five_labelled_gridlines_above_zero(peak):
    root = parse(bar_chart([Bar("a", peak)], title="t"))
    assert len(texts(root, "tick")) == len(of_class(root, "line", "grid")) in (5, 6)


def test_equal_input_gives_equal_output_and_other_input_other_ids():
    assert bar_chart(BARS, title="Demandes") == bar_chart(list(BARS), title="Demandes")
    ids = {
        parse(svg).find("svg:title", NS).get("id")
        for svg in [
            bar_chart(BARS, title="Demandes"),
            bar_chart(BARS, title="Demandes 2"),
            bar_chart(BARS[:3], title="Demandes"),
            bar_chart(BARS, title="Demandes", unit=REQUESTS),
            line_chart([Point(b.label, b.value) for b in BARS], title="Demandes"),
        ]
    }
    assert len(ids) == 5


def test_many_points_show_at_most_four_x_labels_starting_with_the_first():
    points = [Point(f"{2023 + i // 12}-{i % 12 + 1:02d}", float(i)) for i in range(36)]
    root = parse(line_chart(points, title="Trois ans"))
    labels = texts(root, "x-label")
    assert len(labels) <= MAX_X_LABELS == 4
    assert labels[0] == "2023-01" and labels[1] == "2023-10"
    assert len(of_class(root, "circle", "dot")) == 36, "every point is still drawn"
    assert texts(parse(line_chart(points[:12], title="Un an")), "x-label") == ["2023-01", "2023-04", "2023-07",
                                                                                 "2023-10"]
    assert len(texts(parse(line_chart(points[:4], title="Quatre mois")), "x-label")) == 4
    assert texts(parse(line_chart(points[:13], title="Treize mois")), "x-label") == ["2023-01", "2023-05", "2023-09",
                                                                                       "2024-01"]


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf")])
def test_a_value_that_cannot_be_drawn_is_refused(value):
    with pytest.raises(ValueError, match="finite and not negative"):
        bar_chart([Bar("a", value)], title="t")
    with pytest.raises(ValueError, match="finite and not negative"):
        line_chart([Point("a", value)], title="t")


def test_text_colours_and_shapes_use_the_accessible_palette():
    svg = bar_chart(BARS, title="t") + line_chart([Point("a", 1), Point("b", 2)], title="t")
    fills = set(re.findall(r'fill="([^"]+)"', svg)) - {"none"}
    strokes = set(re.findall(r'stroke="([^"]+)"', svg))
    assert fills <= {"#1f2937", "#1d4ed8"}
    assert strokes <= {"#1f2937", "#1d4ed8", "#d1d5db"}
    for text in re.findall(r"<text [^>]*>", svg):
        assert 'fill="#1f2937"' in text
