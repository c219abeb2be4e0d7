// The statistics dashboard's charts (ECharts), drawn from the JSON block the page carries (#dashboard-data).
// A file, not an inline script: the Content-Security-Policy allows scripts from this site's files only.
(function () {
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var L = data.labels, pending = 0;
  function draw(id, option) {
    var chart = echarts.init(document.getElementById(id), null, {renderer: "canvas"});
    pending += 1;
    chart.on("finished", function once() {
      chart.off("finished", once);
      pending -= 1;
      if (pending === 0) { document.body.dataset.chartsReady = "1"; }
    });
    chart.setOption(Object.assign({animation: false, textStyle: {fontFamily: "Noto Sans CJK SC, sans-serif"}}, option));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  draw("chart-month", {
    tooltip: {trigger: "axis"}, legend: {top: 0, data: [L.total_cases, L.concluded]},
    grid: {left: 40, right: 20, top: 36, bottom: 28},
    xAxis: {type: "category", data: data.month.labels}, yAxis: {type: "value", minInterval: 1},
    series: [{name: L.total_cases, type: "bar", data: data.month.total, barMaxWidth: 48, itemStyle: {color: "#2563eb"}},
             {name: L.concluded, type: "line", data: data.month.concluded, itemStyle: {color: "#059669"}}]
  });
  draw("chart-mode", {
    tooltip: {trigger: "item"}, legend: {bottom: 0},
    series: [{type: "pie", radius: ["32%", "58%"], center: ["50%", "46%"], data: data.mode, label: {formatter: "{b}\n{c} " + data.count_unit, width: 96, overflow: "break"}}]
  });
  draw("chart-county", {
    tooltip: {trigger: "axis"}, legend: {top: 0, data: [L.total_cases, L.on_time_rate]},
    grid: {left: 40, right: 44, top: 36, bottom: 64},
    xAxis: {type: "category", data: data.county.labels, axisLabel: {interval: 0, rotate: 30}},
    yAxis: [{type: "value", minInterval: 1}, {type: "value", min: 0, max: 100, axisLabel: {formatter: "{value}%"}}],
    series: [{name: L.total_cases, type: "bar", data: data.county.total, barMaxWidth: 40, itemStyle: {color: "#7c3aed"}},
             {name: L.on_time_rate, type: "line", yAxisIndex: 1, data: data.county.on_time, itemStyle: {color: "#ea580c"}}]
  });
})();
