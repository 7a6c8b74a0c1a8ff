// "Keep me signed in" on the login page (issue 18). The checkbox belongs to
// the password form; the passkey and social sign-in forms are forms of their
// own, so each carries a hidden copy of the choice (`remember`, marked
// data-remember), kept equal to the checkbox here. Without scripts the copies
// keep the page's default (REMEMBER_ME_DEFAULT), and the password form still
// sends the checkbox itself. Served as-is from <issuer path>/assets.
(function () {
  'use strict';

  var box = document.getElementById('remember');
  if (!box) return;

  function copy() {
    var copies = document.querySelectorAll('input[type="hidden"][data-remember]');
    for (var i = 0; i < copies.length; i += 1) copies[i].value = box.checked ? 'on' : '';
  }

  box.addEventListener('change', copy);
  copy(); // a browser may restore the box's state on "back"
})();
