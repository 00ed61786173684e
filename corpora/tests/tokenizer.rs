//! The fast byte-level BPE encoder gives exactly `Tokenizer::encode`'s ids.

use vg_corpora::fast_bpe::FastEncoder;
use vg_corpora::{demo, tokenizer};

#[test]
fn fast_encoder_matches_the_tokenizers_crate() {
    let texts = demo::generate(1500, 21);
    let tok = tokenizer::train_bpe(texts.iter().step_by(3), 700).unwrap();
    let fast = FastEncoder::new(&tok).expect("trained tokenizer has the fast shape");
    let mut probes: Vec<String> = texts.clone();
    probes.extend(
        [
            "a   b", "a \n b", "trailing spaces   ", "  leading", "tab\tand\t\tmore", "x\n\n\ny", "it's we're they'll I'd you've I'm don't",
            "émigré naïve café 東京 123 ٣٤٥ ½", "emoji 🙂🙂 ok", "punct!!! ?? ... --- ((x))", "  \u{2003}wide space", "'s 'S '",
            "numbers 12345 1.5e10 0x1F", "<|eos|> inside text <|bos|>", "<|pad|>", "mixed\r\nline\rends", "",
        ]
        .map(String::from),
    );
    let a = tokenizer::encode_all_reference(&tok, &probes).unwrap();
    let b = fast.encode_all(&probes).unwrap();
    for ((p, x), y) in probes.iter().zip(&a).zip(&b) {
        if p.contains("<|") {
            // literal special-token text stays text: no BOS/EOS/PAD injected by a record
            assert!(y.iter().all(|&id| id > 2), "special id in {p:?}: {y:?}");
            assert!(x.iter().any(|&id| id <= 2), "the reference does map {p:?} to a special id");
        } else {
            assert_eq!(x, y, "ids differ for {p:?}");
        }
    }
    // and the round trip holds
    for (p, ids) in probes.iter().zip(&b).take(200) {
        assert_eq!(&tok.decode(ids, false).unwrap(), p);
    }
}
