// The dashboard's page script (the CSP allows no inline script or handlers, so all of it lives here): the live
// state of the event stream, ages that keep counting, live thumbnails, flicker-free screenshots, and what the
// Stop and Delete buttons do once the API has answered.

(() => {
  const THUMB_REFRESH_MS = 5000;
  // While the manager cannot take screenshots (it answers 501), ask rarely: they appear once it can.
  const THUMB_RETRY_MS = 30000;
  const THUMB_CONCURRENCY = 3;
  // Twice a card's width, for sharp thumbnails on high-density screens.
  const THUMB_WIDTH = 640;
  const AGE_REFRESH_MS = 15000;

  function formatAge(iso) {
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return "—";
    const seconds = Math.max(0, Math.floor((Date.now() - then) / 1000));
    if (seconds < 60) return `${seconds}s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours}h`;
    return `${Math.floor(hours / 24)}d`;
  }

  function refreshAges(root) {
    for (const el of root.querySelectorAll("time[data-age]")) el.textContent = formatAge(el.dateTime);
    for (const el of root.querySelectorAll("[data-age-of]")) el.textContent = formatAge(el.dataset.ageOf);
  }

  // --- Live state of the page's event stream ---

  function setLive(state) {
    const el = document.getElementById("live-state");
    if (!el) return;
    el.hidden = false;
    el.classList.toggle("is-live", state === "live");
    el.classList.toggle("is-down", state === "down");
    el.textContent = state === "live" ? "live" : state === "down" ? "reconnecting…" : "ended";
    el.title =
      state === "live"
        ? "This page updates by itself as sandboxes change"
        : state === "down"
          ? "The connection to the manager dropped; reconnecting"
          : "This sandbox is gone; the page no longer updates";
  }

  document.addEventListener("htmx:sseOpen", () => setLive("live"));
  document.addEventListener("htmx:sseError", () => setLive("down"));
  document.addEventListener("htmx:sseClose", () => setLive("ended"));

  // --- Thumbnails: fetched as blobs so a re-rendered list shows the last image at once, without a refetch ---

  const thumbs = new Map(); // sandbox id -> { url, at }
  let thumbsUnavailableUntil = 0;
  const visible = new Set();
  const observer =
    "IntersectionObserver" in window
      ? new IntersectionObserver((entries) => {
          for (const entry of entries) {
            if (!entry.isIntersecting) {
              visible.delete(entry.target);
              continue;
            }
            visible.add(entry.target);
            // A card just scrolled into view (or just added) shows its screen now, not at the next round.
            if (!thumbs.has(entry.target.dataset.thumb) && Date.now() >= thumbsUnavailableUntil) {
              fetchThumb(entry.target).catch(() => {});
            }
          }
        })
      : undefined;

  function showThumb(el, url) {
    let img = el.querySelector("img");
    if (!img) {
      img = document.createElement("img");
      img.alt = "";
      img.decoding = "async";
      el.append(img);
    }
    if (img.src !== url) img.src = url;
    el.classList.add("has-image");
  }

  function adoptThumbs(root) {
    for (const el of root.querySelectorAll("[data-thumb]")) {
      const known = thumbs.get(el.dataset.thumb);
      if (known) showThumb(el, known.url);
      if (observer) observer.observe(el);
      else visible.add(el);
    }
  }

  async function fetchThumb(el) {
    const id = el.dataset.thumb;
    // A small JPEG: a card is a few hundred pixels wide, and the manager encodes it far cheaper than a full PNG.
    const query = `format=jpeg&max_width=${THUMB_WIDTH}&t=${Date.now()}`;
    const res = await fetch(`/api/sandboxes/${encodeURIComponent(id)}/screenshot?${query}`, {
      cache: "no-store",
    });
    if (res.status === 501) {
      thumbsUnavailableUntil = Date.now() + THUMB_RETRY_MS;
      return;
    }
    const type = res.headers.get("content-type") || "";
    if (!res.ok || !type.startsWith("image/")) return;
    const url = URL.createObjectURL(await res.blob());
    const old = thumbs.get(id);
    thumbs.set(id, { url, at: Date.now() });
    for (const same of document.querySelectorAll(`[data-thumb="${CSS.escape(id)}"]`)) showThumb(same, url);
    if (old) setTimeout(() => URL.revokeObjectURL(old.url), 1000);
  }

  async function refreshThumbs() {
    if (document.visibilityState !== "visible" || Date.now() < thumbsUnavailableUntil) return;
    const queue = [...visible].filter((el) => el.isConnected);
    for (const el of visible) if (!el.isConnected) visible.delete(el);
    const worker = async () => {
      for (let el = queue.shift(); el; el = queue.shift()) {
        try {
          await fetchThumb(el);
        } catch {
          // A failed fetch leaves the last image (or the placeholder); the next round tries again.
        }
        if (Date.now() < thumbsUnavailableUntil) return;
      }
    };
    await Promise.all(Array.from({ length: THUMB_CONCURRENCY }, worker));
  }

  function forgetGoneThumbs() {
    const present = new Set([...document.querySelectorAll("[data-thumb]")].map((el) => el.dataset.thumb));
    for (const [id, thumb] of thumbs) {
      if (present.has(id)) continue;
      URL.revokeObjectURL(thumb.url);
      thumbs.delete(id);
    }
  }

  // --- The detail page's screenshot: keep showing the last image until the next one has loaded ---

  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target?.matches?.("[data-keep-image]") || event.detail.isError) return;
    const current = target.querySelector("img");
    const next = document.createElement("template");
    next.innerHTML = event.detail.serverResponse;
    const nextImg = next.content.querySelector("img");
    if (!current || !nextImg) return;
    event.detail.shouldSwap = false;
    const preload = new Image();
    const settle = () => {
      current.src = nextImg.getAttribute("src");
      const caption = target.querySelector(".caption");
      const nextCaption = next.content.querySelector(".caption");
      if (caption && nextCaption) caption.textContent = nextCaption.textContent;
    };
    preload.onload = settle;
    preload.onerror = settle;
    preload.src = nextImg.getAttribute("src");
  });

  // --- Stop and Delete ---

  function showActionError(message) {
    const el = document.getElementById("action-status");
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (!elt?.dataset?.action) return;
    if (event.detail.successful) {
      const status = document.getElementById("action-status");
      if (status) status.hidden = true;
      if (elt.dataset.then) window.location.assign(elt.dataset.then);
      return;
    }
    const xhr = event.detail.xhr;
    let message = `${elt.dataset.action} failed`;
    if (xhr && xhr.status === 0) message += ": the manager could not be reached";
    else if (xhr) {
      try {
        message += `: ${JSON.parse(xhr.responseText).error}`;
      } catch {
        message += ` (HTTP ${xhr.status})`;
      }
    }
    showActionError(message);
  });

  // --- Click to copy the attach command ---

  document.addEventListener("click", (event) => {
    const el = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!el || !navigator.clipboard) return;
    navigator.clipboard.writeText(el.textContent.trim()).then(
      () => {
        el.classList.add("copied");
        el.title = "Copied";
        setTimeout(() => el.classList.remove("copied"), 1200);
      },
      () => {},
    );
  });

  // --- Wiring ---

  document.addEventListener("htmx:load", (event) => {
    adoptThumbs(event.detail.elt);
    refreshAges(event.detail.elt);
  });
  document.addEventListener("htmx:afterSwap", forgetGoneThumbs);
  document.addEventListener("DOMContentLoaded", () => {
    adoptThumbs(document);
    refreshThumbs();
    setInterval(refreshThumbs, THUMB_REFRESH_MS);
    setInterval(() => refreshAges(document), AGE_REFRESH_MS);
    document.addEventListener("visibilitychange", refreshThumbs);
  });
})();
