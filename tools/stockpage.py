"""The "before" page for tools.measure_latency: a stock gr.Sketchpad feeding the same reading.

    python -m tools.stockpage

Same 280 px canvas, brush and trigger settings (.change, always_last, progress hidden) as the
page's own canvas, and the same answer view, so the two differ only in the drawing surface.
"""

import gradio as gr

from demo.answer import answer_view, empty, shown
from demo.app import EMPTY, Models
from demo.reading import read


def serve_stock() -> None:
    """Serve the stock page on GRADIO_SERVER_PORT (tools.liveserver sets it)."""
    models = Models.load()

    def on_change(value: dict | None) -> dict:
        composite = (value or {}).get("composite")
        reading = None if composite is None else read(models.get(None), composite)
        return empty(EMPTY) if reading is None else shown(reading)

    with gr.Blocks() as demo:
        sketch = gr.Sketchpad(
            elem_id="hrnn-stock",
            canvas_size=(280, 280),
            brush=gr.Brush(default_size=12, colors=["#000000"], color_mode="fixed"),
            layers=False,
            transforms=(),
        )
        answer = answer_view("hrnn-draw-answer", EMPTY)
        sketch.change(on_change, sketch, answer, show_progress="hidden", trigger_mode="always_last")
    demo.queue().launch(server_name="127.0.0.1", ssr_mode=False)


if __name__ == "__main__":
    serve_stock()
