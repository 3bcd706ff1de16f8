"""Draw the illustrative images for the sample findings.

Run from the repository root::

    python media/make_sample_images.py

Each sample finding gets one flat-colour illustration without any text, saved as
``media/images/<id>.jpg`` (1600 x 1000 px, JPEG quality 82); each sample report's cover is
drawn the same way into ``media/images/reports/<id>.jpg``. The finding id seeds
``random.Random``, so colours, hill shapes and layout vary between images but are the same
on every run. The alt text and caption for each image live in the finding's front matter;
if you change a scene here, update the alt text there too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1600, 1000
SCALE = 2
"""Draw at twice the final size, then downsample, for smooth edges."""
QUALITY = 82
OUT_DIR = Path(__file__).resolve().parent / "images"

Colour = tuple[int, int, int]
Point = tuple[float, float]

SKIES: tuple[Colour, ...] = ((246, 228, 200), (214, 232, 240), (250, 216, 176), (228, 238, 224))
SUNS: tuple[Colour, ...] = ((246, 176, 74), (255, 222, 150), (238, 140, 82))
GREENS: tuple[Colour, ...] = (
    (168, 190, 112),
    (132, 166, 92),
    (100, 140, 80),
    (72, 112, 70),
    (52, 88, 60),
)
EARTH: tuple[Colour, ...] = ((196, 146, 96), (170, 118, 76), (140, 96, 62))
SEA: tuple[Colour, ...] = ((92, 150, 176), (66, 122, 154), (48, 98, 132))
JUTE: tuple[Colour, ...] = ((204, 170, 116), (188, 152, 100), (216, 186, 134))
CONTAINERS: tuple[Colour, ...] = (
    (196, 82, 60),
    (54, 106, 150),
    (222, 168, 64),
    (72, 132, 104),
    (150, 84, 120),
)


def shade(colour: Colour, factor: float) -> Colour:
    """Darken (factor < 1) or lighten (factor > 1) a colour, clamped to 0-255."""
    red, green, blue = (max(0, min(255, round(channel * factor))) for channel in colour)
    return (red, green, blue)


@dataclass
class Painter:
    """Thin wrapper over ImageDraw that takes coordinates in final-image pixels."""

    draw: ImageDraw.ImageDraw
    scale: int = SCALE

    def _xy(self, points: Sequence[Point]) -> list[Point]:
        return [(x * self.scale, y * self.scale) for x, y in points]

    def polygon(self, points: Sequence[Point], fill: Colour) -> None:
        self.draw.polygon(self._xy(points), fill=fill)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: Colour) -> None:
        self.draw.rectangle(self._xy([(x0, y0), (x1, y1)]), fill=fill)

    def rounded(
        self, x0: float, y0: float, x1: float, y1: float, radius: float, fill: Colour
    ) -> None:
        self.draw.rounded_rectangle(
            self._xy([(x0, y0), (x1, y1)]), radius=radius * self.scale, fill=fill
        )

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: Colour) -> None:
        self.draw.ellipse(self._xy([(cx - rx, cy - ry), (cx + rx, cy + ry)]), fill=fill)

    def line(self, points: Sequence[Point], fill: Colour, width: float) -> None:
        self.draw.line(self._xy(points), fill=fill, width=max(1, round(width * self.scale)))


# ---------------------------------------------------------------------------
# Building blocks


def sky_and_sun(p: Painter, rng: random.Random, horizon: float) -> None:
    """Banded sky, lighter towards the horizon, and a sun placed by the seed."""
    base = rng.choice(SKIES)
    bands = 5
    for band in range(bands):
        top = horizon * band / bands
        # The last band runs well below the horizon so no gap shows where hills dip.
        bottom = horizon + 250 if band == bands - 1 else horizon * (band + 1) / bands + 1
        p.rect(0, top, WIDTH, bottom, shade(base, 0.94 + 0.03 * band))
    sun_x = rng.uniform(0.15, 0.85) * WIDTH
    sun_y = rng.uniform(0.25, 0.55) * horizon
    radius = rng.uniform(70, 110)
    colour = rng.choice(SUNS)
    p.ellipse(sun_x, sun_y, radius * 1.35, radius * 1.35, shade(colour, 1.12))
    p.ellipse(sun_x, sun_y, radius, radius, colour)


def hill_outline(rng: random.Random, base_y: float, amplitude: float) -> list[Point]:
    """A closed polygon for one hill layer: a sum of three sine waves with random phases."""
    waves = [
        (rng.uniform(0.5, 1.2), rng.uniform(0, math.tau), 1.0),
        (rng.uniform(1.5, 2.8), rng.uniform(0, math.tau), 0.4),
        (rng.uniform(3.0, 5.0), rng.uniform(0, math.tau), 0.12),
    ]
    total = sum(weight for _, _, weight in waves)
    steps = 120
    points: list[Point] = [(0, HEIGHT)]
    for step in range(steps + 1):
        t = step / steps
        wave = sum(weight * math.sin(math.tau * freq * t + phase) for freq, phase, weight in waves)
        points.append((t * WIDTH, base_y - amplitude * wave / total))
    points.append((WIDTH, HEIGHT))
    return points


def hills(p: Painter, rng: random.Random, horizon: float, layers: int = 3) -> None:
    """Layered hills, pale and low at the back, darker towards the front."""
    start = rng.randrange(0, 2)
    for layer in range(layers):
        base_y = horizon + layer * 45
        colour = GREENS[min(start + layer, len(GREENS) - 1)]
        p.polygon(
            hill_outline(rng, base_y, rng.uniform(40, 90)), shade(colour, 1.12 - 0.04 * layer)
        )


Plant = Callable[[Painter, random.Random, float, float, float], None]


def perspective_rows(
    p: Painter, rng: random.Random, horizon: float, rows: int, per_row: int, plant: Plant
) -> None:
    """Rows of plants converging on a vanishing point, drawn far to near."""
    vanish_x = rng.uniform(0.35, 0.65) * WIDTH
    spread = WIDTH * 2.4
    spots: list[tuple[float, float, float]] = []
    for row in range(rows):
        bottom_x = vanish_x - spread / 2 + spread * (row + 0.5) / rows
        for index in range(1, per_row + 1):
            t = (index / per_row) ** 1.8
            x = vanish_x + (bottom_x - vanish_x) * t
            y = horizon + (HEIGHT + 60 - horizon) * t
            if -80 < x < WIDTH + 80:
                spots.append((y, x, t))
    for y, x, t in sorted(spots):
        plant(p, rng, x, y, 8 + 70 * t)


def coffee_bush(p: Painter, rng: random.Random, x: float, y: float, size: float) -> None:
    green = rng.choice(GREENS[2:])
    p.ellipse(x, y - size * 0.55, size * 0.75, size * 0.6, green)
    p.ellipse(x - size * 0.2, y - size * 0.75, size * 0.45, size * 0.4, shade(green, 1.15))
    for _ in range(3):
        p.ellipse(
            x + rng.uniform(-0.5, 0.5) * size,
            y - rng.uniform(0.3, 0.8) * size,
            size * 0.07,
            size * 0.07,
            (178, 44, 44),
        )


def cotton_plant(p: Painter, rng: random.Random, x: float, y: float, size: float) -> None:
    green = rng.choice(GREENS[1:4])
    p.ellipse(x, y - size * 0.45, size * 0.55, size * 0.45, green)
    for _ in range(4):
        bx = x + rng.uniform(-0.45, 0.45) * size
        by = y - rng.uniform(0.25, 0.8) * size
        p.ellipse(bx, by, size * 0.13, size * 0.12, (250, 248, 240))


def crop_tuft(p: Painter, rng: random.Random, x: float, y: float, size: float) -> None:
    p.ellipse(x, y - size * 0.3, size * 0.5, size * 0.3, shade(rng.choice(GREENS[:3]), 0.95))


def shade_tree(p: Painter, rng: random.Random, x: float, ground: float, height: float) -> None:
    """A broad tree: a trunk and a cluster of overlapping canopy ellipses."""
    trunk = (110, 78, 52)
    p.polygon(
        [
            (x - 22, ground),
            (x + 22, ground),
            (x + 12, ground - height * 0.6),
            (x - 12, ground - height * 0.6),
        ],
        trunk,
    )
    canopy_y = ground - height * 0.78
    for _ in range(7):
        p.ellipse(
            x + rng.uniform(-1, 1) * height * 0.55,
            canopy_y + rng.uniform(-0.2, 0.15) * height,
            height * rng.uniform(0.28, 0.4),
            height * rng.uniform(0.18, 0.26),
            shade(rng.choice(GREENS[2:]), rng.uniform(0.9, 1.1)),
        )


def figure(p: Painter, x: float, ground: float, height: float, colour: Colour) -> None:
    """A person as a head and a rounded body: abstract, no faces."""
    p.rounded(
        x - height * 0.2, ground - height * 0.72, x + height * 0.2, ground, height * 0.15, colour
    )
    p.ellipse(x, ground - height * 0.86, height * 0.14, height * 0.14, (120, 84, 60))


def sack(p: Painter, x: float, y: float, w: float, h: float, colour: Colour) -> None:
    p.rounded(x, y, x + w, y + h, h * 0.35, colour)
    p.line([(x + w * 0.15, y + h * 0.5), (x + w * 0.85, y + h * 0.5)], shade(colour, 0.85), 2)


def crate(p: Painter, x: float, y: float, w: float, h: float, colour: Colour) -> None:
    p.rect(x, y, x + w, y + h, colour)
    for plank in range(1, 3):
        py = y + h * plank / 3
        p.line([(x, py), (x + w, py)], shade(colour, 0.8), 3)
    p.line([(x, y), (x + w, y + h)], shade(colour, 0.85), 3)


# ---------------------------------------------------------------------------
# Scenes, one per kind of finding


def field_school(p: Painter, rng: random.Random) -> None:
    """Hills, crop rows and a circle of figures in the shade of a broad tree."""
    horizon = rng.uniform(440, 500)
    sky_and_sun(p, rng, horizon)
    hills(p, rng, horizon)
    p.rect(0, horizon + 150, WIDTH, HEIGHT, GREENS[1])
    perspective_rows(p, rng, horizon + 150, rows=14, per_row=10, plant=crop_tuft)
    tree_x = rng.uniform(0.55, 0.75) * WIDTH
    ground = 880
    p.ellipse(tree_x, ground, 420, 60, shade(GREENS[3], 0.9))
    shade_tree(p, rng, tree_x, ground, 520)
    people = rng.randint(6, 8)
    for index in range(people):
        angle = math.pi * (0.1 + 0.8 * index / (people - 1))
        x = tree_x + math.cos(angle) * 330
        y = ground + 10 + math.sin(angle) * 40
        figure(p, x, y, rng.uniform(110, 140), rng.choice(CONTAINERS))


def coffee_hillside(p: Painter, rng: random.Random) -> None:
    """Steep hills with contour rows of coffee bushes and a few banana plants."""
    horizon = rng.uniform(380, 440)
    sky_and_sun(p, rng, horizon)
    hills(p, rng, horizon, layers=2)
    for band in range(6):
        top = horizon + 160 + band * 75
        outline = hill_outline(rng, top, 30)
        p.polygon(outline, shade(GREENS[1], 1.0 - 0.03 * band))
        for x in range(-20, WIDTH + 40, int(60 + band * 8)):
            ground = _outline_y(outline, x) + 40
            coffee_bush(p, rng, x + rng.uniform(-10, 10), ground, 34 + band * 9)
    for slot in range(3):
        bx = WIDTH * (0.18 + 0.32 * slot) + rng.uniform(-80, 80)
        by = rng.uniform(900, 980)
        p.rect(bx - 14, by - 300, bx + 14, by, (128, 150, 84))
        for leaf in range(5):
            angle = math.pi * (0.15 + 0.7 * leaf / 4)
            lx = bx - math.cos(angle) * 120
            ly = by - 300 - math.sin(angle) * 60 + 40
            p.polygon(
                [(bx, by - 300), (lx - 30, ly - 28), (lx * 2 - bx, ly + 40), (lx + 30, ly + 28)],
                shade((110, 166, 78), 0.9 + 0.05 * leaf),
            )


def _outline_y(outline: Sequence[Point], x: float) -> float:
    """Height of a hill outline at x (nearest sampled point)."""
    inner = outline[1:-1]
    nearest = min(inner, key=lambda point: abs(point[0] - x))
    return nearest[1]


def export_port(p: Painter, rng: random.Random) -> None:
    """A quay with stacked containers, a gantry crane and a ship on the water."""
    horizon = rng.uniform(430, 480)
    sky_and_sun(p, rng, horizon)
    hills(p, rng, horizon - 30, layers=1)
    p.rect(0, horizon + 40, WIDTH, HEIGHT, SEA[0])
    for band in range(1, 3):
        p.rect(0, horizon + 40 + band * 140, WIDTH, HEIGHT, SEA[band])
    quay_top = 700
    p.rect(820, quay_top, WIDTH, HEIGHT, (176, 170, 160))
    p.rect(820, quay_top, WIDTH, quay_top + 14, (140, 134, 126))
    for column in range(8):
        for level in range(rng.randint(1, 4)):
            x = 900 + column * 86
            y = quay_top + 220 - (level + 1) * 52
            p.rect(x, y, x + 80, y + 48, rng.choice(CONTAINERS))
    crane_x = rng.uniform(980, 1200)
    steel = (214, 112, 58)
    p.line([(crane_x, quay_top + 10), (crane_x, 260)], steel, 18)
    p.line([(crane_x + 160, quay_top + 10), (crane_x + 160, 260)], steel, 18)
    p.line([(crane_x - 420, 280), (crane_x + 260, 280)], steel, 22)
    p.line([(crane_x - 300, 430), (crane_x - 300, 280)], (90, 90, 96), 4)
    hull_y = horizon + 150
    p.polygon([(120, hull_y), (720, hull_y), (680, hull_y + 90), (170, hull_y + 90)], (60, 64, 74))
    p.rect(560, hull_y - 110, 660, hull_y, (236, 236, 230))
    for column in range(6):
        for level in range(rng.randint(1, 3)):
            x = 180 + column * 62
            p.rect(
                x,
                hull_y - (level + 1) * 36,
                x + 58,
                hull_y - level * 36 - 3,
                rng.choice(CONTAINERS),
            )


def warehouse_stacks(p: Painter, rng: random.Random) -> None:
    """An open-sided shed with stacked jute sacks and wooden crates, fields beyond."""
    horizon = rng.uniform(460, 520)
    sky_and_sun(p, rng, horizon)
    hills(p, rng, horizon)
    p.rect(0, 720, WIDTH, HEIGHT, EARTH[0])
    roof = (150, 66, 50)
    p.polygon([(180, 250), (1420, 250), (1540, 360), (60, 360)], roof)
    for post_x in (110, 790, 1490):
        p.rect(post_x - 14, 360, post_x + 14, 900, (110, 78, 52))
    p.rect(60, 880, 1540, 920, shade(EARTH[1], 0.9))
    for stack in range(3):
        base_x = 170 + stack * 230
        for level in range(rng.randint(4, 7)):
            offset = 20 if level % 2 else 0
            sack(p, base_x + offset, 820 - level * 62, 190, 64, rng.choice(JUTE))
    for column in range(3):
        for level in range(rng.randint(2, 4)):
            x = 900 + column * 180
            crate(p, x, 760 - level * 124, 170, 120, shade((176, 128, 80), rng.uniform(0.92, 1.08)))


def mosaic_landscape(p: Painter, rng: random.Random) -> None:
    """An aerial patchwork of farm plots and forest blocks, crossed by a winding river."""
    columns, rows = 9, 6
    cell_w, cell_h = WIDTH / (columns - 1), HEIGHT / (rows - 1)
    grid = [
        [
            (
                c * cell_w + (rng.uniform(-0.3, 0.3) * cell_w if 0 < c < columns - 1 else 0),
                r * cell_h + (rng.uniform(-0.3, 0.3) * cell_h if 0 < r < rows - 1 else 0),
            )
            for c in range(columns)
        ]
        for r in range(rows)
    ]
    plot_colours = (*GREENS[:3], (214, 196, 120), (190, 160, 100), (150, 176, 96))
    p.rect(0, 0, WIDTH, HEIGHT, (236, 228, 200))
    for r in range(rows - 1):
        for c in range(columns - 1):
            corners = [grid[r][c], grid[r][c + 1], grid[r + 1][c + 1], grid[r + 1][c]]
            inset = _inset(corners, 6)
            if rng.random() < 0.22:
                p.polygon(inset, GREENS[4])
                cx = sum(x for x, _ in inset) / 4
                cy = sum(y for _, y in inset) / 4
                for _ in range(14):
                    p.ellipse(
                        cx + rng.uniform(-0.3, 0.3) * cell_w,
                        cy + rng.uniform(-0.3, 0.3) * cell_h,
                        22,
                        22,
                        GREENS[3],
                    )
            else:
                colour = rng.choice(plot_colours)
                p.polygon(inset, colour)
                for stripe in range(1, 4):
                    t = stripe / 4
                    a = _lerp(inset[0], inset[3], t)
                    b = _lerp(inset[1], inset[2], t)
                    p.line([a, b], shade(colour, 0.92), 3)
    river: list[Point] = []
    phase = rng.uniform(0, math.tau)
    for step in range(41):
        t = step / 40
        river.append((t * WIDTH, HEIGHT * (0.5 + 0.28 * math.sin(math.tau * 1.3 * t + phase))))
    p.line(river, SEA[1], 34)
    p.line(river, SEA[0], 20)


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _inset(corners: list[Point], amount: float) -> list[Point]:
    """Pull each corner towards the centre so plots show pale boundaries between them."""
    cx = sum(x for x, _ in corners) / len(corners)
    cy = sum(y for _, y in corners) / len(corners)
    result: list[Point] = []
    for x, y in corners:
        dx, dy = cx - x, cy - y
        length = math.hypot(dx, dy) or 1.0
        result.append((x + dx / length * amount, y + dy / length * amount))
    return result


def cotton_field(p: Painter, rng: random.Random) -> None:
    """Rows of cotton plants with open white bolls, running to low hills."""
    horizon = rng.uniform(420, 480)
    sky_and_sun(p, rng, horizon)
    hills(p, rng, horizon, layers=2)
    field_top = horizon + 110
    p.rect(0, field_top, WIDTH, HEIGHT, EARTH[1])
    perspective_rows(p, rng, field_top, rows=16, per_row=12, plant=cotton_plant)


Scene = Callable[[Painter, random.Random], None]

SAMPLE_IMAGES: dict[str, Scene] = {
    "field-schools-and-premium-sharing": field_school,
    "uganda-robusta-case-study": coffee_hillside,
    "farm-gate-to-fob": export_port,
    "procurement-long-term-offtake": warehouse_stacks,
    "origin-government-partnerships": mosaic_landscape,
    "cotton-plastic-contamination": cotton_field,
}
"""Finding id -> the scene drawn for it."""

REPORT_COVERS: dict[str, Scene] = {
    "state-of-play-2026": mosaic_landscape,
    "uganda-case-study": coffee_hillside,
}
"""Report id -> the scene drawn for its cover (``images/reports/<id>.jpg``); the report id
seeds the drawing, so a cover differs from the finding image with the same scene."""


def render(finding_id: str, scene: Scene) -> Image.Image:
    """Draw one scene, seeded by the finding id, at final size."""
    rng = random.Random(finding_id)
    image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), SKIES[0])
    scene(Painter(ImageDraw.Draw(image)), rng)
    return image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)


COVER_PATH = Path(__file__).resolve().parent / "podcast" / "cover.jpg"
COVER_SIDE = 1400


def draw_show_cover(title: str = "Durable Supply Chains") -> Image.Image:
    """The sample show art: a square crop of a landscape scene with the show name on a band."""
    scene = render("podcast-cover", next(iter(SAMPLE_IMAGES.values())))
    left = (WIDTH - HEIGHT) // 2
    image = scene.crop((left, 0, left + HEIGHT, HEIGHT)).resize(
        (COVER_SIDE, COVER_SIDE), Image.Resampling.LANCZOS
    )
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, COVER_SIDE - 420, COVER_SIDE, COVER_SIDE), fill="#14213d")
    draw.text((90, COVER_SIDE - 360), title, font=ImageFont.load_default(size=110), fill="#ffffff")
    draw.text(
        (90, COVER_SIDE - 190), "PODCAST", font=ImageFont.load_default(size=72), fill="#f2c14e"
    )
    return image


def main() -> None:
    COVER_PATH.parent.mkdir(parents=True, exist_ok=True)
    draw_show_cover().save(COVER_PATH, "JPEG", quality=QUALITY, optimize=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for finding_id, scene in SAMPLE_IMAGES.items():
        path = OUT_DIR / f"{finding_id}.jpg"
        render(finding_id, scene).save(path, "JPEG", quality=QUALITY, optimize=True)
        print(f"{path.relative_to(OUT_DIR.parent.parent)}  {path.stat().st_size / 1024:.0f} KB")
    (OUT_DIR / "reports").mkdir(exist_ok=True)
    for report_id, scene in REPORT_COVERS.items():
        path = OUT_DIR / "reports" / f"{report_id}.jpg"
        render(report_id, scene).save(path, "JPEG", quality=QUALITY, optimize=True)
        print(f"{path.relative_to(OUT_DIR.parent.parent)}  {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
