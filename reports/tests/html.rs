//! HTML escaping of every string that came from a corpus or a model.

use vg_reports::html::escape;

#[test]
fn escapes_markup_quotes_and_ampersands() {
    assert_eq!(
        escape(r#"<script>alert("x") & 'y'</script>"#),
        "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
    );
    assert_eq!(escape("plain ε text"), "plain ε text");
}
