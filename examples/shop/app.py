"""A small shop: the example service of docs/example.md.

Run it with ``python app.py [--port PORT]`` (127.0.0.1, no reloader). Its routes use functions
of its dependencies: Flask (routing, JSON), Jinja2 (the page), itsdangerous (the signed cart
token), MarkupSafe (escaping) and Werkzeug (``secure_filename`` for receipt file names).
"""

from __future__ import annotations

import argparse

from flask import Flask, abort, jsonify, render_template_string, request
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import escape
from werkzeug.utils import secure_filename

PRODUCTS = {
    1: {"id": 1, "name": "Teapot", "price": 18.5},
    2: {"id": 2, "name": "Mug", "price": 6.0},
    3: {"id": 3, "name": "Kettle", "price": 42.0},
}

PAGE = """<!doctype html>
<title>Shop</title>
<h1>{{ title }}</h1>
<ul>{% for p in products %}<li>{{ p.name }}: {{ "%.2f"|format(p.price) }}</li>{% endfor %}</ul>
"""

app = Flask(__name__)
# A demo secret: this example signs cart tokens, it keeps nothing secret.
carts = URLSafeSerializer("example-shop-not-a-secret", salt="cart")


@app.get("/")
def index() -> str:
    return render_template_string(PAGE, title="Shop", products=PRODUCTS.values())


@app.get("/products/<int:product_id>")
def product(product_id: int) -> object:
    found = PRODUCTS.get(product_id)
    if found is None:
        abort(404)
    return jsonify(found)


@app.post("/cart")
def add_to_cart() -> object:
    wanted = request.get_json(silent=True) or {}
    items = [int(i) for i in wanted.get("items", []) if int(i) in PRODUCTS]
    return jsonify({"items": items, "token": carts.dumps(items)})


@app.get("/cart/<token>")
def show_cart(token: str) -> object:
    try:
        items = carts.loads(token)
    except BadSignature:
        abort(400)
    return jsonify({"items": items, "total": sum(PRODUCTS[i]["price"] for i in items)})


@app.get("/receipts/<path:name>")
def receipt(name: str) -> object:
    """The file name a receipt would be saved under (nothing is written)."""
    return jsonify({"file": secure_filename(name), "title": str(escape(name))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app.run(host="127.0.0.1", port=args.port, use_reloader=False, debug=False)


if __name__ == "__main__":
    main()
