// The portal's progressive enhancement. Every page works without this script; with it:
// item rows are added and removed in place, tariff codes are searched as they are typed,
// unsent entries survive a lost session (kept in this tab's sessionStorage), the error summary
// takes the focus, a declaration follows its status live (server-sent events), and a batch
// shows its progress while it is filed.
(function () {
  "use strict";

  // --- The declaration form -------------------------------------------------------------
  function renumber(form) {
    var rows = form.querySelectorAll("[data-item]");
    rows.forEach(function (row, i) {
      row.id = "items-" + i;
      var number = row.querySelector("[data-item-number]");
      if (number) number.textContent = String(i + 1);
      row.querySelectorAll("[name],[id],[for],[aria-describedby]").forEach(function (el) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (!value) return;
          value = value.replace(/items\[\d+\]/g, "items[" + i + "]").replace(/items-\d+-/g, "items-" + i + "-");
          el.setAttribute(attr, value);
        });
      });
      var remove = row.querySelector("[data-remove-item]");
      if (remove) {
        remove.value = "remove-" + i;
        remove.hidden = rows.length < 2;
      }
    });
  }

  function addItem(form) {
    var rows = form.querySelectorAll("[data-item]");
    var last = rows[rows.length - 1];
    var copy = last.cloneNode(true);
    copy.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
    });
    copy.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
    copy.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
    last.after(copy);
    renumber(form);
    var first = copy.querySelector("input");
    if (first) first.focus();
  }

  function draftKey(form) { return "aduana-draft:" + form.getAttribute("data-draft"); }

  function saveDraft(form) {
    var pairs = [];
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf" && name !== "_action") pairs.push([name, value]);
    });
    try { sessionStorage.setItem(draftKey(form), JSON.stringify(pairs)); } catch (e) { /* full or disabled */ }
  }

  function restoreDraft(form) {
    var saved;
    try { saved = JSON.parse(sessionStorage.getItem(draftKey(form)) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.length) return;
    var rows = 0;
    saved.forEach(function (pair) {
      var m = /^items\[(\d+)\]/.exec(pair[0]);
      if (m) rows = Math.max(rows, Number(m[1]) + 1);
    });
    while (form.querySelectorAll("[data-item]").length < rows) addItem(form);
    saved.forEach(function (pair) {
      var el = form.elements.namedItem(pair[0]);
      if (el && "value" in el) el.value = pair[1];
    });
    var notice = document.querySelector(".draft-restored");
    if (notice) notice.hidden = false;
  }

  var tariffTimer = null;
  function searchTariff(input) {
    clearTimeout(tariffTimer);
    var q = input.value.trim();
    if (q.length < 2 || /^\d{10}$/.test(q)) return;
    tariffTimer = setTimeout(function () {
      fetch("/portal/reference/tariff?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (lines) {
          var list = document.getElementById("tariff-codes");
          if (!list) return;
          list.replaceChildren();
          lines.forEach(function (line) {
            var option = document.createElement("option");
            option.value = line.hsCode;
            option.textContent = line.hsCode + " – " + line.description;
            list.appendChild(option);
          });
        })
        .catch(function () { /* the code can still be typed */ });
    }, 200);
  }

  var form = document.querySelector("form.declaration-form");
  if (form) {
    renumber(form);
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) return;
      if (button.hasAttribute("data-add-item")) {
        event.preventDefault();
        addItem(form);
        saveDraft(form);
      } else if (button.hasAttribute("data-remove-item")) {
        event.preventDefault();
        var row = button.closest("[data-item]");
        if (form.querySelectorAll("[data-item]").length > 1) {
          var next = row.nextElementSibling;
          row.remove();
          renumber(form);
          saveDraft(form);
          var focus = (next && next.querySelector("input")) || form.querySelector("[data-item] input");
          if (focus) focus.focus();
        }
      }
    });
    form.addEventListener("input", function (event) {
      saveDraft(form);
      if (event.target.hasAttribute("data-tariff-search")) searchTariff(event.target);
    });
    // A form shown fresh (not sent back with errors) gets the unsent entries of this tab back.
    if (form.getAttribute("data-has-errors") !== "true") restoreDraft(form); else saveDraft(form);
  }

  // The declaration was filed or amended: its draft is done with.
  document.querySelectorAll("[data-clear-draft],[data-clear-draft-amend]").forEach(function (el) {
    ["data-clear-draft", "data-clear-draft-amend"].forEach(function (attr) {
      var key = el.getAttribute(attr);
      if (key) { try { sessionStorage.removeItem("aduana-draft:" + key); } catch (e) { /* ignore */ } }
    });
  });

  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // --- A declaration, live ---------------------------------------------------------------
  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var source = new EventSource(live.getAttribute("data-live"));
    source.addEventListener("changed", function () {
      fetch(live.getAttribute("data-panel"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
        .then(function (html) {
          // Server-rendered and escaped by the server's templates.
          live.innerHTML = html;
          var notice = document.querySelector(".live-notice");
          if (notice) notice.hidden = false;
        })
        .catch(function () { /* the next event or a reload shows it */ });
    });
  }

  // --- A batch: progress -----------------------------------------------------------------
  var panel = document.getElementById("batch-panel");
  if (panel && panel.getAttribute("data-poll")) {
    var poll = function () {
      fetch(panel.getAttribute("data-poll"), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
        .then(function (html) {
          panel.innerHTML = html;
          var facts = panel.querySelector("[data-batch-status]");
          var status = facts && facts.getAttribute("data-batch-status");
          if (status === "RECEIVED" || status === "PROCESSING") setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  }

  var upload = document.querySelector("form.batch-upload");
  if (upload) {
    upload.addEventListener("submit", function () {
      var progress = upload.querySelector(".upload-progress");
      if (progress) progress.hidden = false;
      var button = upload.querySelector("button[type=submit]");
      if (button) button.disabled = true;
    });
  }
})();
