// Soloist dashboard: every data-refresh-ms milliseconds, fetch the live part
// of the page (data-src, same origin) and put it in place. The header's dot
// turns red while the dashboard cannot be reached. Without JavaScript, the
// page's <noscript> meta refresh reloads the whole page instead.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var conn = document.getElementById("conn");
  if (!live || !window.fetch) {
    return;
  }
  var every = parseInt(live.getAttribute("data-refresh-ms"), 10) || 2000;
  var src = live.getAttribute("data-src");
  var text = conn ? conn.querySelector(".conn-text") : null;
  var liveText = text ? text.textContent : "";

  function state(ok, why) {
    if (!conn) {
      return;
    }
    conn.setAttribute("data-state", ok ? "live" : "down");
    if (text) {
      text.textContent = ok ? liveText : "cannot reach the dashboard (" + why + "); retrying";
    }
  }

  function tick() {
    fetch(src, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        state(true);
      })
      .catch(function (err) {
        state(false, err.message);
      })
      .then(function () {
        setTimeout(tick, every);
      });
  }

  setTimeout(tick, every);
})();
