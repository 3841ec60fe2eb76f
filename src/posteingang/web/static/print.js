// The print view opens the print dialogue once it is laid out.
window.addEventListener("load", () => window.print());
