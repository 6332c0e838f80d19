// Injected into a copy of a Snakemake report by tests/browser.py: drives the report's own React app through every
// category and subcategory, collects the names the page shows, decodes every image in the browser and reads every
// HTML table, then writes what it found as JSON into a PRE element (id evidence-check) for --dump-dom to print.
(function () {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

  function decodeImage(uri) {
    return new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(img.naturalWidth);
      img.onerror = () => resolve(0);
      img.src = uri;
    });
  }

  async function check() {
    const found = { shown: {}, images: {}, tables: {}, errors: [] };
    try {
      for (const category of Object.keys(categories)) {
        for (const subcategory of Object.keys(categories[category])) {
          // through the menu, as a reader clicks: the results list is built when it mounts
          ReactDOM.flushSync(() => app.setView({ navbarMode: "menu" }));
          await tick();
          ReactDOM.flushSync(() => app.setView({ navbarMode: "subcategory", category: category, subcategory: subcategory }));
          await tick();
          found.shown[category + " / " + subcategory] = document.getElementById("app").textContent;
        }
      }
      for (const [path, entry] of Object.entries(results)) {
        if (entry.mime_type.startsWith("image/")) {
          found.images[entry.name + " " + path] = await decodeImage(entry.data_uri);
        } else if (entry.mime_type === "text/html") {
          const text = atob(entry.data_uri.split("base64,")[1]);
          found.tables[entry.name + " " + path] = (text.match(/<table/g) || []).length;
        }
      }
    } catch (error) {
      found.errors.push(String(error));
    }
    const out = document.createElement("pre");
    out.id = "evidence-check";
    out.textContent = JSON.stringify(found);
    document.body.appendChild(out);
  }

  window.addEventListener("load", () => setTimeout(check, 200));
})();
