// Draw every chart on the page: each <figure class="chart"> holds its Vega-Lite spec as inert JSON.
// vega.js (served by tandem, built from vl-convert's bundle) defines window.vegaEmbed.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("figure.chart").forEach(function (figure) {
    var spec = JSON.parse(figure.querySelector("script[type='application/json']").textContent);
    vegaEmbed(figure.querySelector(".vega"), spec, { actions: false, renderer: "svg" })
      .then(function () { figure.dataset.drawn = "true"; })
      .catch(function (error) { figure.dataset.drawn = "error"; figure.append(String(error)); });
  });
});
