"""The shop: search with filters and sorting, products with options, a cart, checkout, orders.

The cart belongs to an anonymous session (an HttpOnly cookie made on first visit)."""

from __future__ import annotations

from assay.envs.web.framework import Request, Response, Site, e, link, money, new_token, options, session_cookie

PRODUCTS = [
    # name, category, price in cents, stock, description, sizes, colors
    ("Wireless Mouse", "Electronics", 1999, 40, "A quiet two-button mouse with a USB receiver.", "", ""),
    ("Mechanical Keyboard", "Electronics", 8900, 12, "Tenkeyless, brown switches.", "", ""),
    ("USB-C Cable", "Electronics", 950, 120, "Two metres, braided.", "", ""),
    ("Laptop Stand", "Electronics", 3400, 25, "Aluminium, six heights.", "", ""),
    ("Noise-Cancelling Headphones", "Electronics", 14900, 7, "Over-ear, 30 hour battery.", "", ""),
    ("Cotton T-Shirt", "Clothing", 1500, 60, "Organic cotton crew neck.", "S,M,L,XL", "White,Black,Navy"),
    ("Hoodie", "Clothing", 4200, 18, "Brushed fleece inside.", "S,M,L", "Grey,Green"),
    ("Running Shoes", "Clothing", 7500, 9, "Light trainers with a firm heel.", "40,41,42,43,44", "Blue,Black"),
    ("Ceramic Mug", "Home", 800, 80, "Holds 350 ml.", "", "White,Yellow"),
    ("Desk Lamp", "Home", 2750, 15, "Warm LED, dimmable.", "", ""),
    ("Throw Blanket", "Home", 3100, 22, "Wool blend, 130 by 170 cm.", "", "Red,Grey"),
    ("Water Bottle", "Home", 1200, 50, "Steel, keeps drinks cold for a day.", "", ""),
]
SHIPPING = {"standard": ("Standard (5-7 days)", 0), "express": ("Express (1-2 days)", 1200)}
# the default sort has the empty value, so an untouched sort box adds nothing to the URL
SORTS = [("", "Relevance"), ("price_asc", "Price: low to high"), ("price_desc", "Price: high to low"),
         ("name", "Name")]


class ShopSite(Site):
    name = "shop"
    title = "Corner Shop"
    nav = (("Home", "/"), ("Cart", "/cart"), ("Orders", "/orders"))
    schema = """
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, category TEXT, price_cents INTEGER,
                               stock INTEGER, description TEXT, sizes TEXT, colors TEXT);
        CREATE TABLE sessions (token TEXT PRIMARY KEY);
        CREATE TABLE cart_items (id INTEGER PRIMARY KEY, session TEXT, product_id INTEGER, size TEXT,
                                 color TEXT, qty INTEGER);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, session TEXT, customer TEXT, address TEXT, shipping TEXT,
                             total_cents INTEGER);
        CREATE TABLE order_items (order_id INTEGER, product_id INTEGER, size TEXT, color TEXT, qty INTEGER,
                                  price_cents INTEGER);
    """

    def seed(self, db) -> None:
        db.executemany("INSERT INTO products (name, category, price_cents, stock, description, sizes, colors) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", PRODUCTS)

    def route_table(self):
        return [
            ("GET", r"/", self.home),
            ("GET", r"/search", self.search),
            ("GET", r"/product/(\d+)", self.product),
            ("POST", r"/cart/add", self.cart_add),
            ("GET", r"/cart", self.cart),
            ("POST", r"/cart/remove", self.cart_remove),
            ("GET", r"/checkout", self.checkout_form),
            ("POST", r"/checkout", self.checkout),
            ("GET", r"/orders", self.orders),
            ("GET", r"/order/(\d+)", self.order),
        ]

    # -- session --------------------------------------------------------------------------------
    def _session(self, request: Request) -> tuple[str, list[tuple[str, str]]]:
        token = request.cookies.get("sid", "")
        if token and self.one("SELECT 1 FROM sessions WHERE token = ?", token):
            return token, []
        token = new_token()
        self.db.execute("INSERT INTO sessions VALUES (?)", (token,))
        return token, [session_cookie(token)]

    def _with_session(self, request: Request, render) -> Response:
        token, headers = self._session(request)
        response = render(token)
        response.headers += headers
        return response

    # -- pages ----------------------------------------------------------------------------------
    def _search_form(self, q: str = "", category: str = "", sort: str = "") -> str:
        cats = [("", "All categories")] + [(c, c) for (c,) in self.rows("SELECT DISTINCT category FROM products ORDER BY category")]
        return ('<form action="/search" method="get" role="search">'
                f'<input type="search" name="q" value="{e(q)}" aria-label="Search products" placeholder="Search">'
                f'<select name="category" aria-label="Category">{options(cats, category)}</select>'
                f'<select name="sort" aria-label="Sort by">{options(SORTS, sort)}</select>'
                '<button type="submit">Search</button></form>')

    def _table(self, products: list[tuple]) -> str:
        if not products:
            return "<p>No products found.</p>"
        rows = "".join(f"<tr><td>{link(f'/product/{pid}', name)}</td><td>{e(cat)}</td><td>{money(price)}</td></tr>"
                       for pid, name, cat, price in products)
        return (f'<table class="products"><thead><tr><th>Product</th><th>Category</th><th>Price</th></tr></thead>'
                f"<tbody>{rows}</tbody></table>")

    def home(self, request: Request) -> Response:
        cats = "".join(f"<li>{link(f'/search?category={c}', c)}</li>"
                       for (c,) in self.rows("SELECT DISTINCT category FROM products ORDER BY category"))
        featured = self.rows("SELECT id, name, category, price_cents FROM products WHERE id IN (1, 6, 9)")
        return self._with_session(request, lambda _: self.page(
            request, "Welcome", f"{self._search_form()}<h2>Categories</h2><ul>{cats}</ul><h2>Featured</h2>{self._table(featured)}"))

    def search(self, request: Request) -> Response:
        q, category, sort = request.arg("q"), request.arg("category"), request.arg("sort")
        sql, args = "SELECT id, name, category, price_cents FROM products WHERE 1", []
        if q:
            sql += " AND (name LIKE ? OR description LIKE ?)"
            args += [f"%{q}%", f"%{q}%"]
        if category:
            sql += " AND category = ?"
            args.append(category)
        sql += {"price_asc": " ORDER BY price_cents", "price_desc": " ORDER BY price_cents DESC",
                "name": " ORDER BY name"}.get(sort, " ORDER BY id")
        found = self.rows(sql, *args)
        heading = f"Results for “{q}”" if q else (category or "All products")
        return self.page(request, "Search", f"{self._search_form(q, category, sort)}<h2>{e(heading)}</h2>"
                                            f"<p>{len(found)} product(s)</p>{self._table(found)}")

    def product(self, request: Request, pid: str) -> Response:
        row = self.one("SELECT name, category, price_cents, stock, description, sizes, colors FROM products WHERE id = ?", int(pid))
        if row is None:
            return Response.not_found("Product")
        name, category, price, stock, description, sizes, colors = row
        choose = ""
        if sizes:
            choose += (f'<label for="size">Size</label><select id="size" name="size">'
                       f'{options([(s, s) for s in sizes.split(",")], "")}</select>')
        if colors:
            choose += (f'<label for="color">Color</label><select id="color" name="color">'
                       f'{options([(c, c) for c in colors.split(",")], "")}</select>')
        body = (f'<p class="price">{money(price)}</p><p class="category">Category: {e(category)}</p>'
                f'<p class="description">{e(description)}</p><p class="stock">In stock: {stock}</p>'
                f'<form action="/cart/add" method="post"><input type="hidden" name="product_id" value="{pid}">{choose}'
                f'<label for="qty">Quantity</label><input type="number" id="qty" name="qty" value="1" min="1">'
                f'<button type="submit">Add to cart</button></form>')
        return self.page(request, name, body)

    def cart_add(self, request: Request) -> Response:
        def add(token: str) -> Response:
            row = self.one("SELECT sizes, colors FROM products WHERE id = ?", _int(request.field("product_id")))
            qty = _int(request.field("qty", "1"))
            if row is None or qty < 1 or qty > 99:
                return self.page(request, "Cannot add", "<p>Choose a product and a quantity from 1 to 99.</p>")
            size, color = request.field("size"), request.field("color")
            sizes, colors = (row[0].split(",") if row[0] else [""]), (row[1].split(",") if row[1] else [""])
            if size not in sizes or color not in colors:
                return self.page(request, "Cannot add", "<p>That option does not exist.</p>")
            pid = _int(request.field("product_id"))
            existing = self.one("SELECT id FROM cart_items WHERE session = ? AND product_id = ? AND size = ? AND color = ?",
                                token, pid, size, color)
            if existing:
                self.db.execute("UPDATE cart_items SET qty = qty + ? WHERE id = ?", (qty, existing[0]))
            else:
                self.db.execute("INSERT INTO cart_items (session, product_id, size, color, qty) VALUES (?, ?, ?, ?, ?)",
                                (token, pid, size, color, qty))
            return Response.redirect("/cart")
        return self._with_session(request, add)

    def _cart_rows(self, token: str) -> list[tuple]:
        return self.rows("SELECT c.id, p.name, c.size, c.color, c.qty, p.price_cents FROM cart_items c "
                         "JOIN products p ON p.id = c.product_id WHERE c.session = ? ORDER BY c.id", token)

    def cart(self, request: Request) -> Response:
        def render(token: str) -> Response:
            items = self._cart_rows(token)
            if not items:
                return self.page(request, "Your cart", "<p>Your cart is empty.</p>")
            rows = "".join(
                f"<tr><td>{e(name)}</td><td>{e(', '.join(x for x in (size, color) if x) or '-')}</td><td>{qty}</td>"
                f"<td>{money(qty * price)}</td><td><form action=\"/cart/remove\" method=\"post\">"
                f"<input type=\"hidden\" name=\"item\" value=\"{iid}\">"
                f"<button type=\"submit\" aria-label=\"Remove {e(name)}\">Remove</button></form></td></tr>"
                for iid, name, size, color, qty, price in items)
            total = sum(qty * price for *_, qty, price in items)
            return self.page(request, "Your cart",
                             f'<table class="cart"><thead><tr><th>Product</th><th>Options</th><th>Qty</th><th>Total</th>'
                             f'<th></th></tr></thead><tbody>{rows}</tbody></table><p class="total">Subtotal: {money(total)}</p>'
                             f'<p>{link("/checkout", "Proceed to checkout")}</p>')
        return self._with_session(request, render)

    def cart_remove(self, request: Request) -> Response:
        def remove(token: str) -> Response:
            self.db.execute("DELETE FROM cart_items WHERE id = ? AND session = ?", (_int(request.field("item")), token))
            return Response.redirect("/cart")
        return self._with_session(request, remove)

    def checkout_form(self, request: Request, error: str = "") -> Response:
        ship = [(k, f"{label} {money(cost)}") for k, (label, cost) in SHIPPING.items()]
        warn = f'<p class="error">{e(error)}</p>' if error else ""
        return self._with_session(request, lambda _: self.page(request, "Checkout", (
            f'{warn}<form action="/checkout" method="post">'
            '<label for="customer">Full name</label><input type="text" id="customer" name="customer">'
            '<label for="address">Address</label><input type="text" id="address" name="address">'
            f'<label for="shipping">Shipping</label><select id="shipping" name="shipping">{options(ship, "standard")}</select>'
            '<button type="submit">Place order</button></form>')))

    def checkout(self, request: Request) -> Response:
        def place(token: str) -> Response:
            items = self._cart_rows(token)
            customer, address, shipping = request.field("customer"), request.field("address"), request.field("shipping")
            if not items:
                return self.page(request, "Checkout", "<p>Your cart is empty.</p>")
            if not customer or not address or shipping not in SHIPPING:
                return self.checkout_form(request, "Fill in your name and address and choose a shipping method.")
            total = sum(qty * price for *_, qty, price in items) + SHIPPING[shipping][1]
            cur = self.db.execute("INSERT INTO orders (session, customer, address, shipping, total_cents) VALUES (?, ?, ?, ?, ?)",
                                  (token, customer, address, shipping, total))
            self.db.execute("INSERT INTO order_items SELECT ?, product_id, size, color, qty, p.price_cents FROM cart_items c "
                            "JOIN products p ON p.id = c.product_id WHERE c.session = ?", (cur.lastrowid, token))
            self.db.execute("DELETE FROM cart_items WHERE session = ?", (token,))
            return Response.redirect(f"/order/{cur.lastrowid}")
        return self._with_session(request, place)

    def orders(self, request: Request) -> Response:
        def render(token: str) -> Response:
            mine = self.rows("SELECT id, customer, total_cents FROM orders WHERE session = ? ORDER BY id", token)
            items = "".join(f"<li>{link(f'/order/{oid}', f'Order #{oid}')} for {e(who)}: {money(total)}</li>" for oid, who, total in mine)
            return self.page(request, "Your orders", f"<ul>{items}</ul>" if mine else "<p>No orders yet.</p>")
        return self._with_session(request, render)

    def order(self, request: Request, oid: str) -> Response:
        def render(token: str) -> Response:
            row = self.one("SELECT customer, address, shipping, total_cents FROM orders WHERE id = ? AND session = ?", int(oid), token)
            if row is None:
                return Response.not_found("Order")
            items = self.rows("SELECT p.name, o.size, o.color, o.qty FROM order_items o JOIN products p ON p.id = o.product_id "
                              "WHERE o.order_id = ?", int(oid))
            lis = "".join(f"<li>{qty} x {e(name)} {e(' '.join(x for x in (size, color) if x))}</li>" for name, size, color, qty in items)
            return self.page(request, f"Order #{oid} confirmed",
                             f"<p>Ship to {e(row[0])}, {e(row[1])} ({e(row[2])})</p><ul>{lis}</ul><p class=\"total\">Total: {money(row[3])}</p>")
        return self._with_session(request, render)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1
