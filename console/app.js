/* console/app.js: entry point (ES module). */
