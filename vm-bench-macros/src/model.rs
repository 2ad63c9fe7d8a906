//! The typed model of `#[perf_target(...)]` and of the function it annotates, with
//! validation that collects every error (spanned on the offending tokens).

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Lit, Token};

/// Every key the attribute accepts.
pub const KEYS: &[&str] = &[
    "max_ns",
    "max_us",
    "max_ms",
    "min_ops_per_sec",
    "stat",
    "category",
    "metrics",
    "max_overhead_pct",
    "min_speedup",
    "max_overhead_ns",
    "min_gain_pct",
    "warmup_ms",
    "measure_ms",
    "samples",
    "iterations",
    "flavor",
    "flamegraph",
];

/// Keys written bare, without a value (`flamegraph`).
pub const FLAGS: &[&str] = &["flamegraph"];

const STATS: &[&str] = &["median", "mean", "p90", "p95", "p99", "max"];
const FLAVORS: &[&str] = &["current_thread", "multi_thread"];

/// A literal value as written: a number (possibly negated) or a string.
pub enum Value {
    Number {
        value: f64,
        is_int: bool,
        /// The literal's suffix (`us` in `2us`, `u32` in `5u32`); empty when none.
        suffix: String,
        span: Span,
    },
    Str {
        value: String,
        span: Span,
    },
}

impl Value {
    fn span(&self) -> Span {
        match self {
            Value::Number { span, .. } | Value::Str { span, .. } => *span,
        }
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let neg: Option<Token![-]> = input.parse()?;
        let lit: Lit = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected a literal value (a number or a string)")
        })?;
        let span = match &neg {
            Some(m) => m.span.join(lit.span()).unwrap_or(lit.span()),
            None => lit.span(),
        };
        let sign = if neg.is_some() { -1.0 } else { 1.0 };
        match &lit {
            Lit::Int(i) => Ok(Value::Number {
                value: sign * i.base10_digits().parse::<f64>().unwrap_or(f64::INFINITY),
                is_int: true,
                suffix: i.suffix().to_string(),
                span,
            }),
            Lit::Float(f) => Ok(Value::Number {
                value: sign * f.base10_digits().parse::<f64>().unwrap_or(f64::INFINITY),
                is_int: false,
                suffix: f.suffix().to_string(),
                span,
            }),
            Lit::Str(s) if neg.is_none() => Ok(Value::Str {
                value: s.value(),
                span,
            }),
            _ => Err(syn::Error::new(
                span,
                "expected a number or a string literal",
            )),
        }
    }
}

/// `name op value` inside `metrics(...)`.
pub struct MetricBound {
    pub name: Ident,
    pub op: MetricOp,
    pub value: Value,
}

#[derive(Clone, Copy)]
pub enum MetricOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Parse for MetricBound {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        let op = if input.peek(Token![<=]) {
            input.parse::<Token![<=]>()?;
            MetricOp::Le
        } else if input.peek(Token![>=]) {
            input.parse::<Token![>=]>()?;
            MetricOp::Ge
        } else if input.peek(Token![<]) {
            input.parse::<Token![<]>()?;
            MetricOp::Lt
        } else if input.peek(Token![>]) {
            input.parse::<Token![>]>()?;
            MetricOp::Gt
        } else {
            return Err(input.error(format!(
                "expected a comparison `<`, `<=`, `>` or `>=` after metric `{name}`"
            )));
        };
        let value: Value = input.parse()?;
        Ok(MetricBound { name, op, value })
    }
}

/// One `key = value`, `metrics(...)` or bare `flag` entry.
pub enum Arg {
    KeyValue {
        key: Ident,
        value: Value,
    },
    /// A key with no value (`flamegraph`).
    Flag {
        key: Ident,
    },
    /// A flag written with a value (`flamegraph = true`, `flamegraph(x)`): kept as tokens
    /// so the error names the flag instead of failing to parse the value.
    FlagWithValue {
        key: Ident,
        value: TokenStream,
    },
    Metrics {
        key: Ident,
        bounds: Punctuated<MetricBound, Token![,]>,
    },
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key: Ident = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), "expected a key such as `max_us = 500`"))?;
        if FLAGS.contains(&key.to_string().as_str()) && !input.is_empty() && !input.peek(Token![,])
        {
            let mut value = TokenStream::new();
            while !input.is_empty() && !input.peek(Token![,]) {
                value.extend([input.parse::<proc_macro2::TokenTree>()?]);
            }
            return Ok(Arg::FlagWithValue { key, value });
        }
        if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            let bounds = content.parse_terminated(MetricBound::parse, Token![,])?;
            return Ok(Arg::Metrics { key, bounds });
        }
        if input.is_empty() || input.peek(Token![,]) {
            return Ok(Arg::Flag { key });
        }
        if !input.peek(Token![=]) {
            return Err(syn::Error::new(
                key.span(),
                format!("expected `{key} = <value>`"),
            ));
        }
        input.parse::<Token![=]>()?;
        let value: Value = input.parse()?;
        Ok(Arg::KeyValue { key, value })
    }
}

/// The parsed argument list.
pub struct Args(pub Punctuated<Arg, Token![,]>);

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        Ok(Args(Punctuated::parse_terminated(input)?))
    }
}

/// The validated attribute.
#[derive(Default)]
pub struct Attr {
    /// (key, bound in ns, written value)
    pub time: Option<(&'static str, f64, f64)>,
    pub min_ops_per_sec: Option<f64>,
    pub stat: Option<String>,
    pub category: Option<String>,
    pub metrics: Vec<(String, MetricOp, f64)>,
    /// Where `metrics(...)` was written.
    pub metrics_span: Option<Span>,
    /// (key, bound)
    pub relative: Vec<(&'static str, f64)>,
    /// Where each relative key was written.
    pub relative_spans: Vec<Span>,
    pub warmup_ms: Option<f64>,
    pub measure_ms: Option<f64>,
    pub samples: Option<u64>,
    pub iterations: Option<u64>,
    pub flavor: Option<(String, Span)>,
    /// Where the bare `flamegraph` flag was written.
    pub flamegraph: Option<Span>,
    /// Order of declared KPIs, so the runtime reports them in attribute order.
    pub kpi_order: Vec<KpiRef>,
}

/// Which KPI came in which position.
pub enum KpiRef {
    Time,
    Throughput,
    Metric(usize),
    Relative(usize),
}

/// Collects errors so all of them are reported at once.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
    pub fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
    pub fn into_result(self) -> Result<(), syn::Error> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The nearest candidate within a plausible typo distance.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A category: any non-empty string. Which categories a suite expects is the suite's
/// business (it checks them when it runs), not the attribute's.
fn category(value: &Value, errors: &mut Errors) -> Option<String> {
    match value {
        Value::Str { value: s, span } if s.trim().is_empty() => {
            errors.at(*span, "category must be a non-empty string".to_string());
            None
        }
        Value::Str { value: s, span } if s.trim() != s || s.contains(['\n', '\r']) => {
            errors.at(
                *span,
                format!(
                    "category {s:?} must not start or end with whitespace or hold a line break"
                ),
            );
            None
        }
        Value::Str { value: s, .. } => Some(s.clone()),
        Value::Number { span, .. } => {
            errors.at(
                *span,
                "category must be a string, e.g. \"parser\"".to_string(),
            );
            None
        }
    }
}

fn one_of(value: &Value, what: &str, allowed: &[&str], errors: &mut Errors) -> Option<String> {
    match value {
        Value::Str { value: s, span } => {
            if allowed.contains(&s.as_str()) {
                Some(s.clone())
            } else {
                let hint = suggest(s, allowed)
                    .map(|c| format!("; did you mean \"{c}\"?"))
                    .unwrap_or_default();
                errors.at(
                    *span,
                    format!(
                        "unknown {what} \"{s}\": expected one of {}{hint}",
                        quoted(allowed)
                    ),
                );
                None
            }
        }
        Value::Number { span, .. } => {
            errors.at(
                *span,
                format!("{what} must be a string: one of {}", quoted(allowed)),
            );
            None
        }
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The time keys and the unit each is written in.
const TIME_KEYS: [(&str, &str); 3] = [("max_ns", "ns"), ("max_us", "us"), ("max_ms", "ms")];

/// A literal suffix is never part of a value: the key names the unit (`max_ms = 2us` would
/// otherwise silently mean 2 ms) and the harness stores every number as `f64` (`5u32` and
/// `5f32` say nothing). The error names the fix.
fn reject_suffix(key: &str, value: f64, suffix: &str, span: Span, errors: &mut Errors) -> bool {
    if suffix.is_empty() {
        return false;
    }
    let plain = fmt_plain(value);
    let fix = match TIME_KEYS.iter().find(|(_, unit)| *unit == suffix) {
        Some((unit_key, _)) if TIME_KEYS.iter().any(|(k, _)| *k == key) => {
            if *unit_key == key {
                format!("the key already says the unit: write `{key} = {plain}`")
            } else {
                format!(
                    "the unit comes from the key, not the literal (`{key}` is in {}): write \
                     `{unit_key} = {plain}` for {plain} {suffix}",
                    &key[4..]
                )
            }
        }
        _ if suffix.starts_with(['u', 'i', 'f']) => format!(
            "`{key}` takes a plain number: write `{key} = {plain}` without the `{suffix}` \
             type suffix"
        ),
        _ => format!("`{key}` takes a plain number: write `{key} = {plain}` without `{suffix}`"),
    };
    errors.at(span, format!("literal suffix `{suffix}` on `{key}`: {fix}"));
    true
}

fn fmt_plain(v: f64) -> String {
    format!("{v}")
}

/// A finite number; `positive` additionally requires `> 0`, else `>= 0`.
fn number(key: &Ident, value: &Value, positive: bool, errors: &mut Errors) -> Option<f64> {
    match value {
        Value::Number {
            value: v,
            suffix,
            span,
            ..
        } => {
            if reject_suffix(&key.to_string(), *v, suffix, *span, errors) {
                None
            } else if !v.is_finite() {
                errors.at(*span, format!("`{key}` must be a finite number"));
                None
            } else if positive && *v <= 0.0 {
                errors.at(*span, format!("`{key}` must be positive, found {v}"));
                None
            } else if !positive && *v < 0.0 {
                errors.at(*span, format!("`{key}` must not be negative, found {v}"));
                None
            } else {
                Some(*v)
            }
        }
        Value::Str { span, .. } => {
            errors.at(*span, format!("`{key}` expects a number, found a string"));
            None
        }
    }
}

fn integer(key: &Ident, value: &Value, errors: &mut Errors) -> Option<u64> {
    match value {
        Value::Number {
            value: v,
            is_int: true,
            suffix,
            span,
        } => {
            if reject_suffix(&key.to_string(), *v, suffix, *span, errors) {
                None
            } else if *v < 1.0 || *v > u32::MAX as f64 {
                errors.at(
                    *span,
                    format!("`{key}` must be a positive integer (1 ..= {})", u32::MAX),
                );
                None
            } else {
                Some(*v as u64)
            }
        }
        other => {
            errors.at(
                other.span(),
                format!("`{key}` expects a positive integer literal"),
            );
            None
        }
    }
}

/// Records a bare flag (the only one is `flamegraph`).
fn record_flag(attr: &mut Attr, key: &Ident) {
    attr.flamegraph = Some(key.span());
}

impl Attr {
    /// Validates parsed arguments, collecting every error.
    pub fn from_args(args: Args, errors: &mut Errors) -> Attr {
        let mut attr = Attr::default();
        let mut seen: Vec<(String, Span)> = Vec::new();
        for arg in args.0 {
            let key = match &arg {
                Arg::KeyValue { key, .. }
                | Arg::Metrics { key, .. }
                | Arg::Flag { key }
                | Arg::FlagWithValue { key, .. } => key.clone(),
            };
            let name = key.to_string();
            if !KEYS.contains(&name.as_str()) {
                let hint = suggest(&name, KEYS)
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                errors.at(
                    key.span(),
                    format!("unknown key `{name}` in #[perf_target]{hint}"),
                );
                continue;
            }
            if seen.iter().any(|(k, _)| *k == name) {
                errors.at(key.span(), format!("duplicate key `{name}`"));
                continue;
            }
            let is_time = matches!(name.as_str(), "max_ns" | "max_us" | "max_ms");
            if is_time {
                if let Some((other, _)) = seen
                    .iter()
                    .find(|(k, _)| matches!(k.as_str(), "max_ns" | "max_us" | "max_ms"))
                {
                    errors.at(
                        key.span(),
                        format!(
                            "two time bounds: `{name}` and `{other}`; use one of max_ns, max_us, max_ms"
                        ),
                    );
                    continue;
                }
            }
            seen.push((name.clone(), key.span()));
            let is_flag = FLAGS.contains(&name.as_str());
            match arg {
                Arg::Flag { key } if is_flag => record_flag(&mut attr, &key),
                Arg::Flag { key } => {
                    errors.at(key.span(), format!("expected `{name} = <value>`"));
                }
                Arg::FlagWithValue { key, value } => {
                    errors.at(
                        key.span(),
                        format!(
                            "`{name}` is a flag and takes no value: write `{name}` without `{value}`"
                        ),
                    );
                }
                Arg::Metrics { key, bounds } => {
                    if name != "metrics" {
                        errors.at(key.span(), format!("expected `{name} = <value>`"));
                        continue;
                    }
                    if bounds.is_empty() {
                        errors.at(
                            key.span(),
                            "`metrics(...)` needs at least one bound, e.g. `metrics(hit_rate >= 0.9)`",
                        );
                    }
                    if !bounds.is_empty() {
                        attr.metrics_span = Some(key.span());
                    }
                    for b in bounds {
                        match b.value {
                            Value::Number {
                                value,
                                ref suffix,
                                span,
                                ..
                            } if reject_suffix(
                                &b.name.to_string(),
                                value,
                                suffix,
                                span,
                                errors,
                            ) => {}
                            Value::Number { value, span, .. } if !value.is_finite() => errors
                                .at(span, format!("bound of metric `{}` must be finite", b.name)),
                            Value::Number { value, .. } => {
                                attr.kpi_order.push(KpiRef::Metric(attr.metrics.len()));
                                attr.metrics.push((b.name.to_string(), b.op, value));
                            }
                            Value::Str { span, .. } => errors.at(
                                span,
                                format!("bound of metric `{}` must be a number", b.name),
                            ),
                        }
                    }
                }
                Arg::KeyValue { key, value } => {
                    if name == "metrics" {
                        errors.at(
                            key.span(),
                            "`metrics` takes a list: `metrics(hit_rate >= 0.9, ...)`",
                        );
                        continue;
                    }
                    attr.apply(&key, &name, &value, errors);
                }
            }
        }
        attr
    }

    fn apply(&mut self, key: &Ident, name: &str, value: &Value, errors: &mut Errors) {
        match name {
            "max_ns" | "max_us" | "max_ms" => {
                let scale = match name {
                    "max_ns" => 1.0,
                    "max_us" => 1e3,
                    _ => 1e6,
                };
                let k: &'static str = KEYS
                    .iter()
                    .find(|k| **k == name)
                    .copied()
                    .unwrap_or("max_ns");
                if let Some(v) = number(key, value, true, errors) {
                    self.time = Some((k, v * scale, v));
                    self.kpi_order.push(KpiRef::Time);
                }
            }
            "min_ops_per_sec" => {
                if let Some(v) = number(key, value, true, errors) {
                    self.min_ops_per_sec = Some(v);
                    self.kpi_order.push(KpiRef::Throughput);
                }
            }
            "max_overhead_pct" | "min_speedup" | "max_overhead_ns" | "min_gain_pct" => {
                let k: &'static str = KEYS.iter().find(|k| **k == name).copied().unwrap_or("");
                if let Some(v) = number(key, value, true, errors) {
                    self.kpi_order.push(KpiRef::Relative(self.relative.len()));
                    self.relative.push((k, v));
                    self.relative_spans.push(key.span());
                }
            }
            "stat" => self.stat = one_of(value, "statistic", STATS, errors),
            "category" => self.category = category(value, errors),
            "flavor" => {
                self.flavor =
                    one_of(value, "runtime flavor", FLAVORS, errors).map(|f| (f, value.span()))
            }
            "warmup_ms" => self.warmup_ms = number(key, value, false, errors),
            "measure_ms" => self.measure_ms = number(key, value, true, errors),
            "samples" => self.samples = integer(key, value, errors),
            "iterations" => self.iterations = integer(key, value, errors),
            _ => errors.at(key.span(), format!("unknown key `{name}`")),
        }
    }
}

/// The shape of the annotated function.
pub enum Form {
    WholeBody,
    Bench {
        pat: Box<syn::Pat>,
        ty: Box<syn::Type>,
    },
}

/// The validated function.
pub struct Function {
    pub func: syn::ItemFn,
    pub form: Form,
    pub is_async: bool,
}

fn is_bench_ref(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Reference(r) if r.mutability.is_some() => match &*r.elem {
            syn::Type::Path(p) if p.qself.is_none() => p
                .path
                .segments
                .last()
                .map(|s| s.ident == "Bench" && s.arguments.is_none())
                .unwrap_or(false),
            _ => false,
        },
        _ => false,
    }
}

fn has_test_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        let p = a.path();
        p.is_ident("test")
            || (p.segments.len() == 2
                && p.segments[0].ident == "core"
                && p.segments[1].ident == "prelude")
            || p.segments
                .last()
                .map(|s| s.ident == "rustc_test_marker")
                .unwrap_or(false)
    })
}

impl Function {
    /// Validates the annotated function, collecting every error.
    pub fn validate(func: syn::ItemFn, attr: &Attr, errors: &mut Errors) -> Option<Function> {
        let sig = &func.sig;
        let mut ok = true;
        // "No bound" after a rejected bound (or a misspelt key) would only be noise.
        let attribute_parsed_cleanly = errors.is_empty();
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.at(
                sig.generics.span(),
                "a #[perf_target] function cannot be generic: a benchmark measures one concrete instantiation",
            );
            ok = false;
        }
        if let Some(c) = &sig.constness {
            errors.at(c.span, "a #[perf_target] function cannot be `const`");
            ok = false;
        }
        if let Some(u) = &sig.unsafety {
            errors.at(u.span, "a #[perf_target] function cannot be `unsafe`");
            ok = false;
        }
        if let Some(v) = &sig.variadic {
            errors.at(v.span(), "a #[perf_target] function cannot be variadic");
            ok = false;
        }
        if let syn::ReturnType::Type(_, ty) = &sig.output {
            let unit = matches!(&**ty, syn::Type::Tuple(t) if t.elems.is_empty());
            if !unit {
                errors.at(
                    ty.span(),
                    "a #[perf_target] function returns `()`: report values with `b.metric(..)` and fail with panics",
                );
                ok = false;
            }
        }
        let mut form = Form::WholeBody;
        for (i, input) in sig.inputs.iter().enumerate() {
            match input {
                syn::FnArg::Receiver(r) => {
                    errors.at(
                        r.span(),
                        "a #[perf_target] function cannot take `self`: it must be a free function",
                    );
                    ok = false;
                }
                syn::FnArg::Typed(pt) => {
                    if i > 0 {
                        errors.at(
                            pt.span(),
                            "a #[perf_target] function takes at most one parameter, `b: &mut Bench`",
                        );
                        ok = false;
                    } else if !is_bench_ref(&pt.ty) {
                        errors.at(
                            pt.ty.span(),
                            "the parameter of a #[perf_target] function must have type `&mut Bench`",
                        );
                        ok = false;
                    } else {
                        form = Form::Bench {
                            pat: pt.pat.clone(),
                            ty: pt.ty.clone(),
                        };
                    }
                }
            }
        }
        if let Form::WholeBody = form {
            for ((key, _), span) in attr.relative.iter().zip(&attr.relative_spans) {
                errors.at(
                    *span,
                    format!(
                        "`{key}` compares two routines measured with `b.compare(baseline, \
                         candidate)`, so the function must take `b: &mut Bench`: write \
                         `fn {}(b: &mut Bench)` and call `b.compare(..)` in it",
                        sig.ident
                    ),
                );
                ok = false;
            }
            if let Some(span) = attr.metrics_span {
                errors.at(
                    span,
                    format!(
                        "metrics are reported with `b.metric(\"name\", value)`, so the function \
                         must take `b: &mut Bench`: write `fn {}(b: &mut Bench)`",
                        sig.ident
                    ),
                );
                ok = false;
            }
        }
        if attr.kpi_order.is_empty() && attribute_parsed_cleanly {
            let records_metrics = matches!(form, Form::Bench { .. })
                && calls_method(func.block.to_token_stream(), "metric");
            if !records_metrics {
                errors.at(
                    Span::call_site(),
                    "#[perf_target] declares no bound, so nothing would be checked: add one of \
                     `max_ns`/`max_us`/`max_ms = ..`, `min_ops_per_sec = ..`, \
                     `metrics(name op value, ..)` or a relative bound (`max_overhead_pct`, \
                     `min_speedup`, `max_overhead_ns`, `min_gain_pct`); a benchmark that only \
                     records values takes `b: &mut Bench` and reports them with `b.metric(..)`",
                );
                ok = false;
            }
        }
        let is_async = sig.asyncness.is_some();
        if let (true, Form::Bench { .. }, Some((f, span))) = (is_async, &form, &attr.flavor) {
            if f == "current_thread" {
                errors.at(
                    *span,
                    "an `async fn` taking `&mut Bench` runs on a multi-thread runtime (b.iter_async blocks inside it); remove `flavor` or use \"multi_thread\"",
                );
                ok = false;
            }
        }
        let foreign_test = func.attrs.iter().find(|a| {
            let segments: Vec<String> = a
                .path()
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            segments.len() > 1 && segments.last().is_some_and(|l| l == "test")
        });
        if let Some(a) = foreign_test {
            let path = a
                .path()
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            errors.push(syn::Error::new_spanned(
                a,
                format!(
                    "#[perf_target] runs async bodies on its own tokio runtime: replace \
                     `#[{path}]` with `#[test]` (keep the `async fn`; for a multi-thread \
                     runtime add `flavor = \"multi_thread\"` to #[perf_target])"
                ),
            ));
            ok = false;
        } else if !has_test_attr(&func.attrs) {
            errors.at(
                sig.ident.span(),
                "#[perf_target] needs #[test] directly below it: write `#[perf_target(...)]`, then `#[test]`, then the function (a #[test] written above #[perf_target] is invisible to the macro)",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Function {
            func,
            form,
            is_async,
        })
    }
}

/// Whether `tokens` contain a method call `.name(..)` anywhere (closures and nested blocks
/// included).
pub fn calls_method(tokens: TokenStream, name: &str) -> bool {
    use proc_macro2::{Delimiter, TokenTree};
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    trees.iter().enumerate().any(|(i, t)| match t {
        TokenTree::Group(g) => calls_method(g.stream(), name),
        TokenTree::Ident(id) if id == name => {
            let after_dot = i > 0 && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == '.');
            let before_call = matches!(trees.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis);
            after_dot && before_call
        }
        _ => false,
    })
}

/// Parses attribute tokens; a parse error becomes the only error.
pub fn parse_args(tokens: TokenStream) -> syn::Result<Args> {
    syn::parse2::<Args>(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("max_uss", KEYS), Some("max_us"));
        assert_eq!(suggest("sample", KEYS), Some("samples"));
        assert_eq!(suggest("catgory", KEYS), Some("category"));
        assert_eq!(suggest("zzzzzzzzzz", KEYS), None);
    }
}
