//! GraphiQL, served from files built into the binary: no CDN, no external URL.
//!
//! The page (`GET /graphql`) loads React, ReactDOM and GraphiQL (vendored by
//! `api/assets/vendor.sh`, licences beside them) and a small start-up script from
//! `/assets/<version>/...`, where `<version>` is a hash of every asset: the files are cached for
//! a year (`immutable`) and a new build that changes any of them changes every URL. The page
//! itself is never cached, and its Content-Security-Policy allows only 'self': no inline
//! script or style, no other origin.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The policy of the GraphiQL page: scripts, styles, fonts, images and `fetch` from this
/// origin only; no plugins, no `<base>`, no form posts, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/// How long browsers keep an asset: a year, never revalidated (its URL changes with it).
const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

macro_rules! vendored {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/vendor/",
                $name
            ))
            .as_slice(),
        )
    };
}

macro_rules! own {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name)).as_slice(),
        )
    };
}

/// Every file under `/assets/<version>/`: name and bytes.
const ASSETS: &[(&str, &[u8])] = &[
    own!("aduana-graphiql.js"),
    own!("aduana-graphiql.css"),
    own!("portal.js"),
    own!("portal.css"),
    vendored!("react.production.min.js"),
    vendored!("react-dom.production.min.js"),
    vendored!("graphiql.min.js"),
    vendored!("graphiql.min.css"),
    vendored!("LICENSE-graphiql"),
    vendored!("LICENSE-react"),
    vendored!("LICENSE-react-dom"),
    vendored!("graphiql-01.woff2"),
    vendored!("graphiql-02.woff2"),
    vendored!("graphiql-03.woff2"),
    vendored!("graphiql-04.woff2"),
    vendored!("graphiql-05.woff2"),
    vendored!("graphiql-06.woff2"),
    vendored!("graphiql-07.woff2"),
    vendored!("graphiql-08.woff2"),
    vendored!("graphiql-09.woff2"),
    vendored!("graphiql-10.woff2"),
    vendored!("graphiql-11.woff2"),
    vendored!("graphiql-12.woff2"),
    vendored!("graphiql-13.woff2"),
    vendored!("graphiql-14.woff2"),
    vendored!("graphiql-15.woff2"),
    vendored!("graphiql-16.woff2"),
    vendored!("graphiql-17.woff2"),
    vendored!("graphiql-18.woff2"),
    vendored!("graphiql-19.woff2"),
    vendored!("graphiql-20.woff2"),
    vendored!("graphiql-21.woff2"),
    vendored!("graphiql-22.woff2"),
    vendored!("graphiql-23.woff2"),
    vendored!("graphiql-24.woff2"),
    vendored!("graphiql-25.woff2"),
    vendored!("graphiql-26.woff2"),
    vendored!("graphiql-27.woff2"),
    vendored!("graphiql-28.woff2"),
    vendored!("graphiql-29.woff"),
    vendored!("graphiql-30.woff"),
    vendored!("graphiql-31.woff"),
    vendored!("graphiql-32.woff"),
    vendored!("graphiql-33.woff"),
    vendored!("graphiql-34.woff"),
    vendored!("graphiql-35.png"),
    vendored!("graphiql-36.png"),
    vendored!("graphiql-37.png"),
];

const PAGE_TEMPLATE: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/graphiql.html"));

/// A hash of every asset's name and bytes, in hex: the `<version>` of asset URLs. The same
/// build always gives the same version, so replicas agree.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = DefaultHasher::new();
    for (name, bytes) in ASSETS {
        name.hash(&mut hasher);
        bytes.hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
});

static PAGE: LazyLock<String> =
    LazyLock::new(|| PAGE_TEMPLATE.replace("{{assets}}", &format!("/assets/{}", *VERSION)));

/// The path under which the assets of this build are served, e.g. `/assets/1f0c…`.
pub fn assets_path() -> String {
    format!("/assets/{}", *VERSION)
}

/// The GraphiQL page, with its Content-Security-Policy.
pub fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

/// `GET /assets/{version}/{file}`: a file of this build, or 404 (also for another build's
/// version, so a stale URL is never served different bytes under a year-long cache).
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Response {
    if version != *VERSION {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some((name, bytes)) = ASSETS.iter().find(|(asset, _)| *asset == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (*bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(ASSET_CACHE_CONTROL),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `vendor.sh` may add files (another font); each must be served.
    #[test]
    fn every_vendored_file_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/vendor");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                ASSETS.iter().any(|(asset, _)| *asset == name),
                "{name} is in assets/vendor but not in ASSETS"
            );
        }
    }

    #[test]
    fn every_file_the_stylesheet_names_is_served() {
        let css = ASSETS
            .iter()
            .find(|(name, _)| *name == "graphiql.min.css")
            .map(|(_, bytes)| std::str::from_utf8(bytes).unwrap())
            .unwrap();
        let mut named = 0;
        for part in css.split("url(").skip(1) {
            let target = part.split(')').next().unwrap().trim_matches(['"', '\'']);
            assert!(
                ASSETS.iter().any(|(asset, _)| *asset == target),
                "the stylesheet names {target:?}, which is not served"
            );
            named += 1;
        }
        assert!(named > 0);
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type("graphiql.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("x.woff2"), "font/woff2");
        assert_eq!(content_type("LICENSE-react"), "text/plain; charset=utf-8");
    }
}
