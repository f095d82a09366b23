(function () {
  "use strict";
  // Live counts: poll GET /ui/counts (see opsui.counts for why not a stream).
  var box = document.getElementById("counts");
  function refresh() {
    if (!box || document.hidden) return;
    fetch(box.dataset.src || "/ui/counts", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (c) {
        box.querySelectorAll("[data-count]").forEach(function (e) {
          if (c[e.dataset.count] !== undefined) e.textContent = c[e.dataset.count];
        });
        box.querySelectorAll("[data-reason]").forEach(function (e) {
          var n = (c.deadByReason || {})[e.dataset.reason];
          if (n !== undefined) e.textContent = n;
        });
        box.classList.remove("stale");
      })
      .catch(function () { box.classList.add("stale"); });
  }
  setInterval(refresh, 5000);
  document.addEventListener("visibilitychange", refresh);

  // A label page of a job not finished follows it: poll its state and
  // reload when it moves (pending → active → completed, another attempt).
  var st = document.getElementById("state");
  if (st && st.dataset.key) {
    setInterval(function () {
      if (document.hidden) return;
      fetch(st.dataset.src, {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (s) {
          if (s.state !== st.dataset.state || String(s.attempts) !== st.dataset.attempts) location.reload();
        })
        .catch(function () {});
    }, 2000);
  }

  // Selections: the checked keys of the list's table go with the list's
  // selection forms (data-selection). Not with the confirm page's form of
  // the same action, which already carries the keys it confirms.
  function boxes() { return document.querySelectorAll('input[type=checkbox][name=key]'); }
  document.querySelectorAll('form[data-selection]').forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      f.querySelectorAll("input[type=hidden][name=key]").forEach(function (i) { i.remove(); });
      var n = 0;
      boxes().forEach(function (b) {
        if (!b.checked) return;
        var h = document.createElement("input");
        h.type = "hidden"; h.name = "key"; h.value = b.value;
        f.appendChild(h); n++;
      });
      if (n === 0) { ev.preventDefault(); alert("Select at least one dead letter first."); }
    });
  });
  // The account selector switches on change (its button is for no script).
  var sw = document.getElementById("account-switch");
  if (sw) sw.querySelector("select").addEventListener("change", function () { sw.submit(); });

  var all = document.getElementById("select-all");
  if (all) all.addEventListener("change", function () { boxes().forEach(function (b) { b.checked = all.checked; }); });
})();
