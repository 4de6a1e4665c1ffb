// Theme and text size, kept per browser (localStorage) and applied before the page paints:
// a classic script in <head>, not a module, so there is no flash of the wrong theme.
// "auto" follows the system: prefers-contrast: more gives high contrast, then
// prefers-color-scheme gives light or dark.
(() => {
  const THEME_KEY = 'smtp-playground-theme';
  const SCALE_KEY = 'smtp-playground-font-scale';
  const THEMES = ['auto', 'dark', 'light', 'contrast'];
  const SCALES = ['1', '1.15', '1.3', '1.5'];
  const root = document.documentElement;
  const light = window.matchMedia('(prefers-color-scheme: light)');
  const more = window.matchMedia('(prefers-contrast: more)');

  const load = (key, allowed) => {
    try {
      const value = localStorage.getItem(key);
      return allowed.includes(value) ? value : allowed[0];
    } catch {
      return allowed[0]; // storage refused (a private window): the defaults, for this page
    }
  };
  const save = (key, value) => {
    try {
      localStorage.setItem(key, value);
    } catch {
      // kept for this page only
    }
  };
  const system = () => (more.matches ? 'contrast' : light.matches ? 'light' : 'dark');

  const apply = () => {
    const chosen = load(THEME_KEY, THEMES);
    root.dataset.theme = chosen === 'auto' ? system() : chosen;
    root.dataset.themeChoice = chosen;
    root.style.setProperty('--font-scale', load(SCALE_KEY, SCALES));
  };

  const wire = (id, key, allowed) => {
    const select = document.getElementById(id);
    if (!select) return;
    select.value = load(key, allowed);
    select.addEventListener('change', () => {
      save(key, allowed.includes(select.value) ? select.value : allowed[0]);
      apply();
    });
  };

  apply();
  light.addEventListener('change', apply);
  more.addEventListener('change', apply);
  window.addEventListener('storage', apply); // another tab changed it
  document.addEventListener('DOMContentLoaded', () => {
    wire('theme', THEME_KEY, THEMES);
    wire('font-scale', SCALE_KEY, SCALES);
  });
})();
