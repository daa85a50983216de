// Submits the SAML response form; the form's button works without script.
document.getElementById("autopost").submit();
