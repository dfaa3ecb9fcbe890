"""Open a report built from hostile inputs in headless Chromium: no script runs, no request
leaves the page, and it renders (a screenshot is taken). CI installs Chromium (.ci/run)."""

import http.server
import os
import shutil
import subprocess
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import trustml
from trustml.data import AuditData

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def listener():
    """A local HTTP server that records every request; hostile payloads point at it."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_hostile_report_runs_no_script_and_makes_no_request(tmp_path, listener):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed")
    url, hits = listener
    mark = 'document.documentElement.setAttribute("data-pwned","yes")'
    evil = [f'<script>{mark};fetch("{url}/script")</script>',
            f'<img src="{url}/img" onerror=\'{mark}\'>',
            f'"><svg onload=\'{mark}\'><image href="{url}/svg"/></svg>']
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({f"x{evil[0]}": rng.normal(size=n), "grp": rng.choice(evil[1:], n)})
    frame["y"] = (frame.iloc[:, 0] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    data = AuditData.from_frame(frame, label="y", sensitive="grp", name=evil[0])
    model = LogisticRegression().fit(*data.take("train")[:2])
    result = trustml.audit(model, data, checks=["performance", "fairness", "explainability"],
                           explain_rows=10, n_boot=10, progress=False)
    page = tmp_path / "report.html"
    result.to_html(page)
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
                          "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "grp" in dom and "&lt;script&gt;" in dom  # rendered, payloads shown as text
    assert 'data-pwned="yes"' not in dom  # no script or event handler ran
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1100,2000",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert hits == []  # no script, image or SVG reached the network
