// Forms marked data-swap post in the background and replace the target with
// the server's HTML: the page updates without a reload, and errors (403, 409,
// 503) arrive as readable HTML too, in #notice, or, for a refusal the server
// says by its field, as the replaced part. Every post carries the session's CSRF token
// (from <meta name="csrf-token">) in X-CSRF-Token: the gateway refuses a change
// made with the session cookie without it, so other sites cannot make one.
function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.swap) return;
  event.preventDefault();
  const body = new URLSearchParams(new FormData(form, event.submitter));
  const notice = document.getElementById("notice");
  const focused = focusedIn(document.querySelector(form.dataset.swap));
  form.querySelectorAll("button").forEach((b) => (b.disabled = true));
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken() },
    });
    const html = await response.text();
    const target = document.querySelector(form.dataset.swap);
    // A refusal said by its field comes as the part itself (X-Refused-In-Place).
    const inPlace = response.headers.get("X-Refused-In-Place") === "1";
    if ((response.ok || inPlace) && target) {
      target.outerHTML = html;
      refocus(form.dataset.swap, focused);
      notice.hidden = true;
      if (inPlace) document.getElementById("done").hidden = true;
      say(document.querySelector("[data-done]"));
      if (response.ok && form.dataset.follow) follow(form.dataset.swap);
    } else {
      notice.innerHTML = html;
      notice.hidden = false;
    }
  } catch (error) {
    notice.textContent = "The request did not reach the server. Check your connection and try again.";
    notice.hidden = false;
  } finally {
    form.querySelectorAll("button").forEach((b) => (b.disabled = false));
  }
});

// What the action did (the fragment's [data-done]) is said in #done, outside the
// part of the page that is replaced, so that it stays while the page refreshes.
function say(said) {
  const done = document.getElementById("done");
  if (!said || !done) return;
  done.textContent = said.textContent;
  done.hidden = false;
  said.remove();
}

// After a reactivation, booking regenerates the sessions a moment later: refresh
// the panel or row (its data-panel) until its upcoming bookings show (at most
// ~10 s), then say how many were booked.
async function follow(selector) {
  if (Number(document.querySelector(selector)?.dataset.upcoming) > 0) return;
  for (let attempt = 0; attempt < 10; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const panel = document.querySelector(selector);
    if (!panel || !panel.dataset.panel) return;
    const response = await fetch(panel.dataset.panel, { credentials: "same-origin" });
    if (!response.ok) return;
    const focused = focusedIn(panel);
    panel.outerHTML = await response.text();
    refocus(selector, focused);
    const booked = Number(document.querySelector(selector)?.dataset.upcoming);
    if (booked > 0) {
      const done = document.getElementById("done");
      if (done && !done.hidden) {
        done.textContent += ` ${booked} upcoming session${booked === 1 ? " is" : "s are"} booked.`;
      }
      return;
    }
  }
}

// A date picker shows its day in the browser's language and order (12/06/2026 or
// 06/12/2026), the page in its own ("Sun 06 Dec 2026", times.day on the server; a
// date and time as times.when writes it).
// The server writes the page's words beside each picker; this keeps them current.
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const pad = (n) => String(n).padStart(2, "0");

function dayWords(day) {
  return `${WEEKDAYS[day.getUTCDay()]} ${pad(day.getUTCDate())} ${MONTHS[day.getUTCMonth()]} ${day.getUTCFullYear()}`;
}

function pageDay(input) {
  const day = input.valueAsDate; // midnight UTC of the chosen day, or null
  return day ? dayWords(day) : "—";
}

// A datetime-local field's time as the page writes times (Tue 08 Dec 2026, 19:00):
// its valueAsNumber reads the wall time typed as if it were UTC.
function pageMoment(input) {
  if (Number.isNaN(input.valueAsNumber)) return "—";
  const moment = new Date(input.valueAsNumber);
  return `${dayWords(moment)}, ${pad(moment.getUTCHours())}:${pad(moment.getUTCMinutes())}`;
}

document.addEventListener("input", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement)) return;
  const target = input.dataset.day || input.dataset.moment;
  const words = target && document.getElementById(target);
  if (words) words.textContent = input.dataset.day ? pageDay(input) : pageMoment(input);
});

// Replacing the element that holds the focus drops it to <body>: keyboard and
// screen reader users would lose their place. So the same control in the new HTML
// takes it back (found by id, else by its form's action and its name or tag), or,
// when it is gone (a Reactivate button), the new element itself.
function focusedIn(target) {
  const active = document.activeElement;
  if (!target || !target.contains(active)) return undefined;
  if (active.id) return `#${CSS.escape(active.id)}`;
  const form = active.closest("form");
  if (!form || active === target) return "";
  const within = `form[action="${CSS.escape(form.getAttribute("action"))}"]`;
  const what = active.name ? `[name="${CSS.escape(active.name)}"]` : active.tagName.toLowerCase();
  return `${within} ${what}`;
}

function refocus(selector, focused) {
  if (focused === undefined) return;
  const replaced = document.querySelector(selector);
  if (!replaced) return;
  const control = (focused && replaced.querySelector(focused)) || replaced;
  if (control === replaced && !replaced.hasAttribute("tabindex")) replaced.tabIndex = -1;
  control.focus();
}

// Times are shown in the reader's zone: the mentor's own when the platform knows it,
// else the browser's, which the server learns from the cookie `tz`. A page shown
// before the server knew it (the very first visit, or a laptop taken to another
// zone) is loaded again, once per zone and tab: never in a loop, should the server
// not know the zone or cookies be off.
(function tellTheZone() {
  let zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) return;
  const sent = () => document.cookie.split("; ").includes(`tz=${zone}`);
  if (!sent()) document.cookie = `tz=${zone}; path=/; max-age=31536000; samesite=lax`;
  const shown = document.querySelector("[data-reader-zone]");
  if (!shown || shown.dataset.source === "mentor" || shown.dataset.readerZone === zone) return;
  if (!sent() || sessionStorage.getItem("tz-reloaded") === zone) return;
  sessionStorage.setItem("tz-reloaded", zone);
  location.reload();
})();
