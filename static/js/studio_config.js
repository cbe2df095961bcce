// The studio pages' settings and words, from the page's JSON block (no inline script, so the
// Content-Security-Policy needs no 'unsafe-inline' for scripts). Loaded before the other scripts.
window.STUDIO = JSON.parse(document.getElementById('studio-config').textContent);
