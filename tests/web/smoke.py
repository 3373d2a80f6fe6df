"""The harness's own check, run in the namespace (``python -m tests.web.smoke REPORT``):
Chromium opens a page served on 127.0.0.1, takes the fake microphone, and connects two
RTCPeerConnections to each other over ICE. Proves the browser, its fake media and ICE on the
veth pair work before any product code is involved."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web

from tests.web.harness import Report, chromium, exit_on_sigterm

PAGE = """<!doctype html><title>smoke</title><script src="/smoke.js"></script>"""
SCRIPT = """
window.smoke = (async () => {
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  mic.getTracks().forEach((t) => a.addTrack(t, mic));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  const received = async () => {
    let n = 0;
    (await b.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') n = s.packetsReceived; });
    return n;
  };
  const pause = () => new Promise((r) => setTimeout(r, 25));
  for (let i = 0; i < 200 && (await received()) < 20; i++) await pause();
  return {ice: a.iceConnectionState, received: await received()};
})();
"""


async def main(report: Report) -> None:
    async def page(_req: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def script(_req: web.Request) -> web.Response:
        return web.Response(text=SCRIPT, content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/smoke.js", script)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with chromium() as browser:
            tab = await browser.new_page()
            await tab.goto(f"http://127.0.0.1:{port}/")
            result = await tab.evaluate("window.smoke")
            report.check("chromium_webrtc_in_netns", result["received"] >= 20, **result,
                         version=browser.version)  # fmt: skip
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    exit_on_sigterm()
    rep = Report(Path(sys.argv[1]))
    try:
        asyncio.run(asyncio.wait_for(main(rep), 40))
    except BaseException as exc:
        rep.fail(repr(exc))
        raise
