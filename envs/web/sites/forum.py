"""The forum: posts in categories, comments, search, profiles; posting and editing need a login."""

from __future__ import annotations

from assay.envs.web.framework import Request, Response, Site, e, link, new_token, options, session_cookie

USERS = [("alice", "alice-pass"), ("bob", "bob-pass"), ("carol", "carol-pass"), ("dave", "dave-pass")]
CATEGORIES = ["Cooking", "Outdoors", "Repairs", "General"]
POSTS = [
    # author, title, category, body
    ("bob", "Tips for sourdough starters", "Cooking", "Feed it twice a day and keep it somewhere warm."),
    ("carol", "Best hiking trails near the lake", "Outdoors", "The north ridge loop is 12 km and worth it."),
    ("alice", "Morning routine", "General", "Coffee first, then a short walk before work."),
    ("alice", "Bike chain keeps slipping", "Repairs", "The chain slips on the two smallest cogs under load."),
    ("dave", "Fixing a dripping tap", "Repairs", "Usually the washer; turn the water off first."),
    ("carol", "Garden planning for spring", "General", "Raised beds, tomatoes and a lot of basil."),
    ("carol", "Camping gear checklist", "Outdoors", "Tent, stove, headlamp, and a spare lighter."),
    ("bob", "Quick tomato soup", "Cooking", "Roast the tomatoes first for a deeper flavour."),
]
COMMENTS = [
    (2, "alice", "Did it last summer, great views."),
    (2, "bob", "How steep is the last part?"),
    (2, "dave", "Bring water, there is none on the ridge."),
    (1, "carol", "Mine died in the fridge, any advice?"),
    (4, "dave", "Check the derailleur hanger alignment."),
    (6, "alice", "Basil loves the sun."),
]


class ForumSite(Site):
    name = "forum"
    title = "Neighbourhood Forum"
    nav = (("Home", "/"), ("New post", "/new"), ("Search", "/search"))
    schema = """
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT UNIQUE, password TEXT);
        CREATE TABLE sessions (token TEXT PRIMARY KEY, user_id INTEGER);
        CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER, title TEXT, category TEXT, body TEXT);
        CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER, author_id INTEGER, body TEXT);
    """

    def seed(self, db) -> None:
        db.executemany("INSERT INTO users (name, password) VALUES (?, ?)", USERS)
        uid = {name: i + 1 for i, (name, _) in enumerate(USERS)}
        db.executemany("INSERT INTO posts (author_id, title, category, body) VALUES (?, ?, ?, ?)",
                       [(uid[a], t, c, b) for a, t, c, b in POSTS])
        db.executemany("INSERT INTO comments (post_id, author_id, body) VALUES (?, ?, ?)",
                       [(p, uid[a], b) for p, a, b in COMMENTS])

    def route_table(self):
        return [
            ("GET", r"/", self.home),
            ("GET", r"/search", self.search),
            ("GET", r"/post/(\d+)", self.post),
            ("POST", r"/post/(\d+)/comment", self.comment),
            ("GET", r"/post/(\d+)/edit", self.edit_form),
            ("POST", r"/post/(\d+)/edit", self.edit),
            ("GET", r"/new", self.new_form),
            ("POST", r"/new", self.new),
            ("GET", r"/user/([a-z]+)", self.user),
            ("GET", r"/login", self.login_form),
            ("POST", r"/login", self.login),
            ("GET", r"/logout", self.logout),
        ]

    def user_of(self, request: Request) -> str | None:
        row = self.one("SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = ?",
                       request.cookies.get("sid", ""))
        return row[0] if row else None

    def account_links(self, request: Request) -> str:
        user = self.user_of(request)
        return f'<p>Signed in as {e(user)} <a href="/logout">Log out</a></p>' if user else '<p><a href="/login">Log in</a></p>'

    def _uid(self, request: Request) -> int | None:
        row = self.one("SELECT user_id FROM sessions WHERE token = ?", request.cookies.get("sid", ""))
        return row[0] if row else None

    def _list(self, posts: list[tuple]) -> str:
        if not posts:
            return "<p>No posts found.</p>"
        rows = "".join(f"<tr><td>{link(f'/post/{pid}', title)}</td><td>{link(f'/user/{author}', author)}</td>"
                       f"<td>{e(category)}</td><td>{ncomments}</td></tr>" for pid, title, author, category, ncomments in posts)
        return (f'<table class="posts"><thead><tr><th>Title</th><th>Author</th><th>Category</th><th>Comments</th></tr>'
                f"</thead><tbody>{rows}</tbody></table>")

    _POSTS_SQL = ("SELECT p.id, p.title, u.name, p.category, (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) "
                  "FROM posts p JOIN users u ON u.id = p.author_id")

    def _search_form(self, q: str = "") -> str:
        return ('<form action="/search" method="get" role="search">'
                f'<input type="search" name="q" value="{e(q)}" aria-label="Search posts">'
                '<button type="submit">Search</button></form>')

    def home(self, request: Request) -> Response:
        return self.page(request, "Latest posts", self._search_form() + self._list(self.rows(self._POSTS_SQL + " ORDER BY p.id DESC")))

    def search(self, request: Request) -> Response:
        q = request.arg("q")
        found = self.rows(self._POSTS_SQL + " WHERE p.title LIKE ? OR p.body LIKE ? ORDER BY p.id DESC", f"%{q}%", f"%{q}%") if q else []
        return self.page(request, "Search", self._search_form(q) + (f"<h2>Results for “{e(q)}”</h2>{self._list(found)}" if q else ""))

    def post(self, request: Request, pid: str) -> Response:
        row = self.one("SELECT p.title, p.body, p.category, u.name FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = ?", int(pid))
        if row is None:
            return Response.not_found("Post")
        title, body, category, author = row
        comments = self.rows("SELECT u.name, c.body FROM comments c JOIN users u ON u.id = c.author_id WHERE c.post_id = ? ORDER BY c.id", int(pid))
        items = "".join(f'<li class="comment"><strong>{e(who)}</strong>: {e(text)}</li>' for who, text in comments)
        me = self.user_of(request)
        tools = f'<p>{link(f"/post/{pid}/edit", "Edit post")}</p>' if me == author else ""
        reply = (f'<form action="/post/{pid}/comment" method="post"><label for="comment">Your comment</label>'
                 '<textarea id="comment" name="body"></textarea><button type="submit">Post comment</button></form>'
                 if me else f'<p>{link("/login", "Log in to comment")}</p>')
        return self.page(request, title, f'<p class="meta">by {link(f"/user/{author}", author)} in {e(category)}</p>'
                                         f'<div class="post-body"><p>{e(body)}</p></div>{tools}'
                                         f'<h2>Comments ({len(comments)})</h2><ul class="comments">{items}</ul>{reply}')

    def comment(self, request: Request, pid: str) -> Response:
        uid = self._uid(request)
        if uid is None:
            return Response.redirect("/login")
        if not self.one("SELECT 1 FROM posts WHERE id = ?", int(pid)) or not request.field("body"):
            return self.page(request, "Cannot comment", "<p>Write a comment on an existing post.</p>")
        self.db.execute("INSERT INTO comments (post_id, author_id, body) VALUES (?, ?, ?)", (int(pid), uid, request.field("body")))
        return Response.redirect(f"/post/{pid}")

    def _editor(self, action: str, title: str = "", category: str = "General", body: str = "", button: str = "Publish") -> str:
        return (f'<form action="{e(action)}" method="post">'
                f'<label for="title">Title</label><input type="text" id="title" name="title" value="{e(title)}">'
                f'<label for="category">Category</label><select id="category" name="category">{options([(c, c) for c in CATEGORIES], category)}</select>'
                f'<label for="body">Body</label><textarea id="body" name="body">{e(body)}</textarea>'
                f'<button type="submit">{e(button)}</button></form>')

    def edit_form(self, request: Request, pid: str) -> Response:
        row = self.one("SELECT title, category, body, author_id FROM posts WHERE id = ?", int(pid))
        if row is None:
            return Response.not_found("Post")
        if row[3] != self._uid(request):
            return self.page(request, "Not allowed", "<p>Only the author can edit this post.</p>")
        return self.page(request, "Edit post", self._editor(f"/post/{pid}/edit", row[0], row[1], row[2], "Save changes"))

    def edit(self, request: Request, pid: str) -> Response:
        row = self.one("SELECT author_id FROM posts WHERE id = ?", int(pid))
        if row is None or row[0] != self._uid(request):
            return self.page(request, "Not allowed", "<p>Only the author can edit this post.</p>")
        title, category, body = request.field("title"), request.field("category"), request.field("body")
        if not title or not body or category not in CATEGORIES:
            return self.page(request, "Edit post", '<p class="error">Title and body are required.</p>' + self._editor(f"/post/{pid}/edit", title, category, body, "Save changes"))
        self.db.execute("UPDATE posts SET title = ?, category = ?, body = ? WHERE id = ?", (title, category, body, int(pid)))
        return Response.redirect(f"/post/{pid}")

    def new_form(self, request: Request) -> Response:
        if self._uid(request) is None:
            return Response.redirect("/login")
        return self.page(request, "New post", self._editor("/new"))

    def new(self, request: Request) -> Response:
        uid = self._uid(request)
        if uid is None:
            return Response.redirect("/login")
        title, category, body = request.field("title"), request.field("category"), request.field("body")
        if not title or not body or category not in CATEGORIES:
            return self.page(request, "New post", '<p class="error">Title and body are required.</p>' + self._editor("/new", title, category, body))
        cur = self.db.execute("INSERT INTO posts (author_id, title, category, body) VALUES (?, ?, ?, ?)", (uid, title, category, body))
        return Response.redirect(f"/post/{cur.lastrowid}")

    def user(self, request: Request, name: str) -> Response:
        if not self.one("SELECT 1 FROM users WHERE name = ?", name):
            return Response.not_found("User")
        return self.page(request, f"Posts by {name}", self._list(self.rows(self._POSTS_SQL + " WHERE u.name = ? ORDER BY p.id", name)))

    def login_form(self, request: Request, error: str = "") -> Response:
        warn = f'<p class="error">{e(error)}</p>' if error else ""
        return self.page(request, "Log in", f'{warn}<form action="/login" method="post">'
                                            '<label for="username">Username</label><input type="text" id="username" name="username">'
                                            '<label for="password">Password</label><input type="password" id="password" name="password">'
                                            '<button type="submit">Log in</button></form>')

    def login(self, request: Request) -> Response:
        row = self.one("SELECT id FROM users WHERE name = ? AND password = ?", request.field("username"), request.field("password"))
        if row is None:
            return self.login_form(request, "Wrong username or password.")
        token = new_token()
        self.db.execute("INSERT INTO sessions VALUES (?, ?)", (token, row[0]))
        response = Response.redirect("/")
        response.headers.append(session_cookie(token))
        return response

    def logout(self, request: Request) -> Response:
        self.db.execute("DELETE FROM sessions WHERE token = ?", (request.cookies.get("sid", ""),))
        return Response.redirect("/")
