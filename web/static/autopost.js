// Submits the SAML HTTP-POST binding form at once; without JavaScript the
// visible button does the same.
(function () {
  var f = document.getElementById("autopost");
  if (f) { f.submit(); }
})();
