"""The admin tool: an employee table with filters and sorting, record editing, a request queue
with approve/reject, and a three-step form for filing a request (choose, details, confirm)."""

from __future__ import annotations

import re

from assay.envs.web.framework import Request, Response, Site, e, link, options

DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Support"]
STATUSES = ["active", "on leave", "inactive"]
KINDS = ["vacation", "expense", "equipment"]
EMPLOYEES = [
    # name, department, role, status, email
    ("Ana Ruiz", "Engineering", "Engineer", "active", "ana.ruiz@example.test"),
    ("Ben Cho", "Engineering", "Engineer", "on leave", "ben.cho@example.test"),
    ("Dana Kim", "Sales", "Account Executive", "active", "dana.kim@example.test"),
    ("Eli Stone", "Sales", "Manager", "active", "eli.stone@example.test"),
    ("Frank Ode", "Support", "Agent", "active", "frank.ode@example.test"),
    ("Grace Liu", "Support", "Agent", "active", "grace.liu@example.test"),
    ("Henry Park", "Engineering", "Engineer", "active", "henry.park@example.test"),
    ("Iris Vale", "Marketing", "Designer", "on leave", "iris.vale@example.test"),
    ("Jon Weir", "Support", "Agent", "inactive", "jon.weir@example.test"),
    ("Kim Soto", "Marketing", "Manager", "active", "kim.soto@example.test"),
    ("Lee Fox", "Support", "Manager", "inactive", "lee.fox@example.test"),
    ("Mia Ross", "Engineering", "Manager", "active", "mia.ross@example.test"),
]
REQUESTS = [
    # employee id, kind, start, end, reason, status
    (4, "vacation", "2026-12-01", "2026-12-05", "Family visit", "pending"),
    (1, "expense", "2026-11-10", "2026-11-10", "Conference ticket", "pending"),
    (6, "expense", "2026-11-12", "2026-11-12", "Headset", "pending"),
    (3, "vacation", "2026-10-01", "2026-10-03", "Moving house", "approved"),
    (7, "equipment", "2026-11-20", "2026-11-20", "Second monitor", "pending"),
    (10, "expense", "2026-09-14", "2026-09-14", "Taxi", "rejected"),
]
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AdminSite(Site):
    name = "admin"
    title = "People Admin"
    nav = (("Dashboard", "/"), ("Employees", "/employees"), ("Requests", "/requests"), ("New request", "/requests/new"))
    schema = """
        CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT, department TEXT, role TEXT, status TEXT, email TEXT);
        CREATE TABLE requests (id INTEGER PRIMARY KEY, employee_id INTEGER, kind TEXT, start_date TEXT, end_date TEXT,
                               reason TEXT, status TEXT);
        CREATE TABLE drafts (id INTEGER PRIMARY KEY, employee_id INTEGER, kind TEXT, start_date TEXT, end_date TEXT, reason TEXT);
    """

    def seed(self, db) -> None:
        db.executemany("INSERT INTO employees (name, department, role, status, email) VALUES (?, ?, ?, ?, ?)", EMPLOYEES)
        db.executemany("INSERT INTO requests (employee_id, kind, start_date, end_date, reason, status) VALUES (?, ?, ?, ?, ?, ?)", REQUESTS)

    def route_table(self):
        return [
            ("GET", r"/", self.dashboard),
            ("GET", r"/employees", self.employees),
            ("GET", r"/employees/(\d+)", self.employee),
            ("GET", r"/employees/(\d+)/edit", self.edit_form),
            ("POST", r"/employees/(\d+)/edit", self.edit),
            ("GET", r"/requests", self.requests),
            ("POST", r"/requests/(\d+)/decide", self.decide),
            ("GET", r"/requests/new", self.step1),
            ("POST", r"/requests/new", self.step1_submit),
            ("GET", r"/requests/new/details", self.step2),
            ("POST", r"/requests/new/details", self.step2_submit),
            ("GET", r"/requests/new/confirm", self.step3),
            ("POST", r"/requests/new/confirm", self.step3_submit),
            ("GET", r"/requests/(\d+)", self.request_page),
        ]

    def dashboard(self, request: Request) -> Response:
        counts = self.rows("SELECT status, COUNT(*) FROM employees GROUP BY status ORDER BY status")
        pending = self.one("SELECT COUNT(*) FROM requests WHERE status = 'pending'")[0]
        items = "".join(f"<li>{e(status)}: {n}</li>" for status, n in counts)
        return self.page(request, "Dashboard", f"<h2>Employees by status</h2><ul>{items}</ul>"
                                               f"<p>{link('/requests?status=pending', f'{pending} pending requests')}</p>")

    def employees(self, request: Request) -> Response:
        q, dept, status, sort = request.arg("q"), request.arg("department"), request.arg("status"), request.arg("sort")
        sql, args = "SELECT id, name, department, role, status FROM employees WHERE 1", []
        if q:
            sql, args = sql + " AND name LIKE ?", args + [f"%{q}%"]
        if dept:
            sql, args = sql + " AND department = ?", args + [dept]
        if status:
            sql, args = sql + " AND status = ?", args + [status]
        sql += {"department": " ORDER BY department, name", "status": " ORDER BY status, name"}.get(sort, " ORDER BY name")
        found = self.rows(sql, *args)
        filters = ('<form action="/employees" method="get" class="filters">'
                   f'<input type="search" name="q" value="{e(q)}" aria-label="Name contains">'
                   f'<select name="department" aria-label="Department">{options([("", "Any department")] + [(d, d) for d in DEPARTMENTS], dept)}</select>'
                   f'<select name="status" aria-label="Status">{options([("", "Any status")] + [(s, s) for s in STATUSES], status)}</select>'
                   f'<select name="sort" aria-label="Sort by">{options([("", "Name"), ("department", "Department"), ("status", "Status")], sort)}</select>'
                   '<button type="submit">Filter</button></form>')
        rows = "".join(f"<tr><td>{link(f'/employees/{i}', name)}</td><td>{e(d)}</td><td>{e(r)}</td><td>{e(s)}</td></tr>"
                       for i, name, d, r, s in found)
        table = (f'<table class="employees"><thead><tr><th>Name</th><th>Department</th><th>Role</th><th>Status</th></tr></thead>'
                 f"<tbody>{rows}</tbody></table>") if found else "<p>No employees match.</p>"
        return self.page(request, "Employees", f"{filters}<p>{len(found)} employee(s)</p>{table}")

    def employee(self, request: Request, eid: str) -> Response:
        row = self.one("SELECT name, department, role, status, email FROM employees WHERE id = ?", int(eid))
        if row is None:
            return Response.not_found("Employee")
        name, dept, role, status, email = row
        return self.page(request, name, f'<dl><dt>Department</dt><dd id="department">{e(dept)}</dd><dt>Role</dt><dd id="role">{e(role)}</dd>'
                                        f'<dt>Status</dt><dd id="status">{e(status)}</dd><dt>Email</dt><dd id="email">{e(email)}</dd></dl>'
                                        f'<p>{link(f"/employees/{eid}/edit", "Edit", f"Edit {name}")}</p>')

    def edit_form(self, request: Request, eid: str, error: str = "") -> Response:
        row = self.one("SELECT name, department, role, status FROM employees WHERE id = ?", int(eid))
        if row is None:
            return Response.not_found("Employee")
        name, dept, role, status = row
        warn = f'<p class="error">{e(error)}</p>' if error else ""
        return self.page(request, f"Edit {name}", (
            f'{warn}<form action="/employees/{eid}/edit" method="post">'
            f'<label for="department">Department</label><select id="department" name="department">{options([(d, d) for d in DEPARTMENTS], dept)}</select>'
            f'<label for="role">Role</label><input type="text" id="role" name="role" value="{e(role)}">'
            f'<label for="status">Status</label><select id="status" name="status">{options([(s, s) for s in STATUSES], status)}</select>'
            '<button type="submit">Save</button></form>'))

    def edit(self, request: Request, eid: str) -> Response:
        if not self.one("SELECT 1 FROM employees WHERE id = ?", int(eid)):
            return Response.not_found("Employee")
        dept, role, status = request.field("department"), request.field("role"), request.field("status")
        if dept not in DEPARTMENTS or status not in STATUSES or not role:
            return self.edit_form(request, eid, "Choose a department and status and give a role.")
        self.db.execute("UPDATE employees SET department = ?, role = ?, status = ? WHERE id = ?", (dept, role, status, int(eid)))
        return Response.redirect(f"/employees/{eid}")

    _REQ_SQL = ("SELECT r.id, e.name, r.kind, r.start_date, r.end_date, r.reason, r.status FROM requests r "
                "JOIN employees e ON e.id = r.employee_id")

    def requests(self, request: Request) -> Response:
        status, kind = request.arg("status"), request.arg("kind")
        sql, args = self._REQ_SQL + " WHERE 1", []
        if status:
            sql, args = sql + " AND r.status = ?", args + [status]
        if kind:
            sql, args = sql + " AND r.kind = ?", args + [kind]
        found = self.rows(sql + " ORDER BY r.id", *args)
        filters = ('<form action="/requests" method="get" class="filters">'
                   f'<select name="status" aria-label="Request status">{options([("", "Any status"), ("pending", "pending"), ("approved", "approved"), ("rejected", "rejected")], status)}</select>'
                   f'<select name="kind" aria-label="Request kind">{options([("", "Any kind")] + [(k, k) for k in KINDS], kind)}</select>'
                   '<button type="submit">Filter</button></form>')
        rows = ""
        for rid, name, k, start, end, reason, st in found:
            actions = ""
            if st == "pending":
                actions = "".join(
                    f'<form action="/requests/{rid}/decide" method="post"><input type="hidden" name="decision" value="{d}">'
                    f'<button type="submit" aria-label="{label} request {rid} ({e(name)}, {k})">{label}</button></form>'
                    for d, label in (("approved", "Approve"), ("rejected", "Reject")))
            rows += (f"<tr><td>{link(f'/requests/{rid}', f'#{rid}')}</td><td>{e(name)}</td><td>{e(k)}</td><td>{e(start)} to {e(end)}</td>"
                     f"<td>{e(reason)}</td><td>{e(st)}</td><td>{actions}</td></tr>")
        table = ('<table class="requests"><thead><tr><th>Id</th><th>Employee</th><th>Kind</th><th>Dates</th><th>Reason</th>'
                 f"<th>Status</th><th>Actions</th></tr></thead><tbody>{rows}</tbody></table>") if found else "<p>No requests match.</p>"
        return self.page(request, "Requests", filters + table)

    def decide(self, request: Request, rid: str) -> Response:
        decision = request.field("decision")
        if decision in ("approved", "rejected"):
            self.db.execute("UPDATE requests SET status = ? WHERE id = ? AND status = 'pending'", (decision, int(rid)))
        return Response.redirect("/requests")

    def request_page(self, request: Request, rid: str) -> Response:
        row = self.one(self._REQ_SQL + " WHERE r.id = ?", int(rid))
        if row is None:
            return Response.not_found("Request")
        _, name, kind, start, end, reason, status = row
        return self.page(request, f"Request #{rid}", f'<dl><dt>Employee</dt><dd id="employee">{e(name)}</dd><dt>Kind</dt><dd id="kind">{e(kind)}</dd>'
                                                     f'<dt>Dates</dt><dd id="dates">{e(start)} to {e(end)}</dd><dt>Reason</dt><dd id="reason">{e(reason)}</dd>'
                                                     f'<dt>Status</dt><dd id="status">{e(status)}</dd></dl>')

    # -- the three-step form: a draft row carries the answers between steps -----------------------
    def step1(self, request: Request, error: str = "") -> Response:
        people = [("", "Choose an employee")] + [(str(i), n) for i, n in self.rows("SELECT id, name FROM employees ORDER BY name")]
        warn = f'<p class="error">{e(error)}</p>' if error else ""
        return self.page(request, "New request: step 1 of 3", (
            f'{warn}<form action="/requests/new" method="post">'
            f'<label for="employee">Employee</label><select id="employee" name="employee">{options(people, "")}</select>'
            f'<label for="kind">Kind</label><select id="kind" name="kind">{options([(k, k) for k in KINDS], "vacation")}</select>'
            '<button type="submit">Next</button></form>'))

    def step1_submit(self, request: Request) -> Response:
        emp, kind = request.field("employee"), request.field("kind")
        if not emp.isdigit() or not self.one("SELECT 1 FROM employees WHERE id = ?", int(emp)) or kind not in KINDS:
            return self.step1(request, "Choose an employee and a kind.")
        cur = self.db.execute("INSERT INTO drafts (employee_id, kind) VALUES (?, ?)", (int(emp), kind))
        return Response.redirect(f"/requests/new/details?draft={cur.lastrowid}")

    def _draft(self, request: Request) -> tuple | None:
        draft = request.arg("draft") or request.field("draft")
        if not draft.isdigit():
            return None
        return self.one("SELECT d.id, e.name, d.kind, d.start_date, d.end_date, d.reason, d.employee_id FROM drafts d "
                        "JOIN employees e ON e.id = d.employee_id WHERE d.id = ?", int(draft))

    def step2(self, request: Request, error: str = "") -> Response:
        draft = self._draft(request)
        if draft is None:
            return Response.redirect("/requests/new")
        did, name, kind, *_ = draft
        warn = f'<p class="error">{e(error)}</p>' if error else ""
        return self.page(request, "New request: step 2 of 3", (
            f"{warn}<p>{e(kind.capitalize())} request for {e(name)}</p>"
            f'<form action="/requests/new/details" method="post"><input type="hidden" name="draft" value="{did}">'
            '<label for="start">Start date (YYYY-MM-DD)</label><input type="text" id="start" name="start">'
            '<label for="end">End date (YYYY-MM-DD)</label><input type="text" id="end" name="end">'
            '<label for="reason">Reason</label><textarea id="reason" name="reason"></textarea>'
            '<button type="submit">Next</button></form>'))

    def step2_submit(self, request: Request) -> Response:
        draft = self._draft(request)
        if draft is None:
            return Response.redirect("/requests/new")
        start, end, reason = request.field("start"), request.field("end"), request.field("reason")
        if not DATE.match(start) or not DATE.match(end) or end < start or not reason:
            return self.step2(request, "Give a start and end date (YYYY-MM-DD, end not before start) and a reason.")
        self.db.execute("UPDATE drafts SET start_date = ?, end_date = ?, reason = ? WHERE id = ?", (start, end, reason, draft[0]))
        return Response.redirect(f"/requests/new/confirm?draft={draft[0]}")

    def step3(self, request: Request) -> Response:
        draft = self._draft(request)
        if draft is None or draft[3] is None:
            return Response.redirect("/requests/new")
        did, name, kind, start, end, reason, _ = draft
        return self.page(request, "New request: step 3 of 3", (
            f'<dl><dt>Employee</dt><dd>{e(name)}</dd><dt>Kind</dt><dd>{e(kind)}</dd><dt>Dates</dt><dd>{e(start)} to {e(end)}</dd>'
            f'<dt>Reason</dt><dd>{e(reason)}</dd></dl>'
            f'<form action="/requests/new/confirm" method="post"><input type="hidden" name="draft" value="{did}">'
            '<button type="submit">Submit request</button></form>'
            f'<p>{link(f"/requests/new/details?draft={did}", "Back to details")}</p>'))

    def step3_submit(self, request: Request) -> Response:
        draft = self._draft(request)
        if draft is None or draft[3] is None:
            return Response.redirect("/requests/new")
        did, _, kind, start, end, reason, emp = draft
        cur = self.db.execute("INSERT INTO requests (employee_id, kind, start_date, end_date, reason, status) "
                              "VALUES (?, ?, ?, ?, ?, 'pending')", (emp, kind, start, end, reason))
        self.db.execute("DELETE FROM drafts WHERE id = ?", (did,))
        return Response.redirect(f"/requests/{cur.lastrowid}")
