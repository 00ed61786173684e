//! A minimal XML well-formedness checker for the tests (elements, attributes, entities,
//! declarations); enough to parse back the JUnit and SVG this crate writes without a dependency.
#![allow(dead_code)]

/// A parsed element.
#[derive(Debug)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses a whole document: optional `<?xml ...?>`, exactly one root element, nothing after it
/// but whitespace. Errors name the byte offset.
pub fn parse_xml(doc: &str) -> Result<Element, String> {
    let mut p = Parser { s: doc.as_bytes(), i: 0 };
    p.skip_ws();
    if p.starts("<?xml") {
        let end = doc[p.i..].find("?>").ok_or("unterminated XML declaration")?;
        p.i += end + 2;
    }
    p.skip_ws();
    let root = p.element()?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!("content after the root element at byte {}", p.i));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn starts(&self, t: &str) -> bool {
        self.s[self.i..].starts_with(t.as_bytes())
    }
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || b"_-.:".contains(&self.s[self.i])) {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("expected a name at byte {start}"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn element(&mut self) -> Result<Element, String> {
        if !self.starts("<") {
            return Err(format!("expected '<' at byte {}", self.i));
        }
        self.i += 1;
        let name = self.name()?;
        let mut attrs = Vec::new();
        loop {
            self.skip_ws();
            if self.starts("/>") {
                self.i += 2;
                return Ok(Element { name, attrs, children: vec![], text: String::new() });
            }
            if self.starts(">") {
                self.i += 1;
                break;
            }
            let key = self.name()?;
            if attrs.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate attribute {key} at byte {}", self.i));
            }
            self.skip_ws();
            if !self.starts("=") {
                return Err(format!("expected '=' after attribute {key} at byte {}", self.i));
            }
            self.i += 1;
            self.skip_ws();
            let quote = *self.s.get(self.i).ok_or("end of input in attribute")?;
            if quote != b'"' && quote != b'\'' {
                return Err(format!("unquoted attribute {key} at byte {}", self.i));
            }
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != quote {
                if self.s[self.i] == b'<' {
                    return Err(format!("'<' inside attribute {key} at byte {}", self.i));
                }
                self.i += 1;
            }
            let raw = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
            self.i += 1;
            attrs.push((key, unescape(&raw)?));
        }
        let mut children = Vec::new();
        let mut text = String::new();
        loop {
            if self.i >= self.s.len() {
                return Err(format!("element <{name}> is not closed"));
            }
            if self.starts("</") {
                self.i += 2;
                let close = self.name()?;
                if close != name {
                    return Err(format!("</{close}> closes <{name}> at byte {}", self.i));
                }
                self.skip_ws();
                if !self.starts(">") {
                    return Err(format!("expected '>' at byte {}", self.i));
                }
                self.i += 1;
                return Ok(Element { name, attrs, children, text: unescape(&text)? });
            }
            if self.starts("<!--") {
                let end = std::str::from_utf8(&self.s[self.i..]).unwrap().find("-->").ok_or("unterminated comment")?;
                self.i += end + 3;
                continue;
            }
            if self.starts("<") {
                children.push(self.element()?);
                continue;
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != b'<' {
                self.i += 1;
            }
            text.push_str(&String::from_utf8_lossy(&self.s[start..self.i]));
        }
    }
}

/// Resolves the five predefined entities and character references; a bare '&' is an error.
pub fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find(';').ok_or_else(|| format!("bare '&' in {raw:?}"))?;
        let ent = &after[..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if ent.starts_with("#x") => char::from_u32(u32::from_str_radix(&ent[2..], 16).map_err(|e| e.to_string())?).ok_or("bad char ref")?,
            _ if ent.starts_with('#') => char::from_u32(ent[1..].parse::<u32>().map_err(|e| e.to_string())?).ok_or("bad char ref")?,
            _ => return Err(format!("unknown entity &{ent}; in {raw:?}")),
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
