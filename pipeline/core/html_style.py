"""The look every HTML page of callaudit shares (scan report, records page, package readiness) and its escaping.

Pages are self-contained files a regulator opens from a folder, so the style is
inlined, not linked; everything user-supplied goes through `escape`.
It holds no page's content: each command builds its own pages.
"""

from __future__ import annotations

import html

CSS = """
*{box-sizing:border-box}
body{margin:0;padding:16px 24px;font:14px/1.5 "Noto Sans CJK SC","Noto Sans SC","WenQuanYi Zen Hei","Source Han Sans SC",
 "Microsoft YaHei","PingFang SC",sans-serif;color:#1f2328;background:#f6f8fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 6px}h3{font-size:14px;margin:12px 0 4px}
.muted{color:#656d76}.summary{display:flex;gap:16px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}.num{text-align:right}
.call{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:14px 0}
.badge{display:inline-block;border-radius:10px;padding:0 8px;margin:0 4px 4px 0;font-size:12px;background:#ffebe9;
 color:#a40e26;border:1px solid #ffcecb}.badge.ok{background:#dafbe1;color:#116329;border-color:#aceebb}
.badge.dismissed{background:#eef1f4;color:#656d76;border-color:#d0d7de;text-decoration:line-through}
.badge.dismiss_pending,.badge.second_look{background:#fff8c5;color:#7d4e00;border-color:#eac54f}
.wave{width:100%;height:auto;background:#fbfcfd;border:1px solid #d0d7de;border-radius:4px}
.wave .stmt{fill:#1a7f37;fill-opacity:.18;stroke:#1a7f37;stroke-opacity:.7;cursor:pointer}
.wave .flag{fill:#cf222e;fill-opacity:.16;stroke:#cf222e;stroke-dasharray:4 3}
.wave text{font-size:11px}.wave .lt{fill:#116329}.wave .lf{fill:#a40e26}.wave .ax{fill:#656d76;font-size:10px}
.clips{display:flex;flex-wrap:wrap;gap:8px}.clip{border:1px solid #d0d7de;border-radius:6px;padding:4px 8px;background:#fbfcfd}
.clip audio{display:block;height:32px;width:260px}.clip.playing{outline:2px solid #1a7f37}
.transcript td:first-child{white-space:nowrap;font-family:monospace}.hit{background:#dafbe1}
input[type=search]{padding:3px 8px;width:280px;margin:6px 0}
"""


def escape(value) -> str:
    """Text or attribute value for HTML; None is empty."""
    return html.escape("" if value is None else str(value), quote=True)
