//! Code generation: a thin wrapper around the user's body that calls the runtime.
//!
//! For `#[perf_target(...)] #[test] fn name(..) { body }` the output is:
//! - `fn __vm_bench_body_name(&mut Bench)`: the body, adapted to the function form;
//! - `static __VM_BENCH_SPEC_name: BenchSpec`: the attribute as data;
//! - a registry entry (linkme distributed slice) pointing at both;
//! - `#[test] fn name()`: calls `run_test(&SPEC, body)` directly, never via the registry.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::model::{parse_args, Attr, Errors, Form, Function, KpiRef, MetricOp};

pub fn perf_target(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(
                Span::call_site(),
                "#[perf_target] applies to a function (`#[perf_target(...)] #[test] fn name() {}`)",
            );
            let err = e.to_compile_error();
            return quote!(#err #item);
        }
    };
    let mut errors = Errors::default();
    let attr = match parse_args(args) {
        Ok(a) => Attr::from_args(a, &mut errors),
        Err(e) => {
            errors.push(e);
            Attr::default()
        }
    };
    let validated = Function::validate(func.clone(), &attr, &mut errors);
    match (errors.into_result(), validated) {
        (Ok(()), Some(f)) => generate(&attr, f),
        (Err(e), _) => fallback(e, func),
        (Ok(()), None) => fallback(
            syn::Error::new(Span::call_site(), "invalid #[perf_target] function"),
            func,
        ),
    }
}

/// On error, emit the errors plus the function, so the user sees only the real errors and
/// not a cascade about a missing function.
fn fallback(e: syn::Error, mut func: syn::ItemFn) -> TokenStream {
    let err = e.to_compile_error();
    // Without its #[test] the function cannot add "test functions take no arguments" noise
    // on top of the real errors.
    // (Also `#[tokio::test]` and the like, reported above.)
    func.attrs
        .retain(|a| a.path().segments.last().is_none_or(|s| s.ident != "test"));
    quote! {
        #err
        #[allow(dead_code, unused)]
        #func
    }
}

fn f64_lit(v: f64) -> TokenStream {
    let lit = proc_macro2::Literal::f64_suffixed(v);
    quote!(#lit)
}

fn generate(attr: &Attr, f: Function) -> TokenStream {
    let rt = quote!(::vm_bench_runtime::__private);
    let func = &f.func;
    let name = &func.sig.ident;
    // `r#type` is named `type` in messages and mangled helper names.
    let plain = syn::ext::IdentExt::unraw(name);
    let name_str = plain.to_string();
    let vis = &func.vis;
    let attrs = &func.attrs;
    let block = &func.block;
    let body_fn = format_ident!("__vm_bench_body_{}", plain);
    let spec_static = format_ident!("__VM_BENCH_SPEC_{}", plain);
    let entry_static = format_ident!("__VM_BENCH_ENTRY_{}", plain);

    let (form, body) = match (&f.form, f.is_async) {
        (Form::WholeBody, false) => (
            quote!(WholeBody),
            quote! {
                fn #body_fn(__vm_bench: &mut ::vm_bench_runtime::Bench) {
                    __vm_bench.__whole_body(|| #block)
                }
            },
        ),
        (Form::WholeBody, true) => (
            quote!(AsyncWholeBody),
            quote! {
                fn #body_fn(__vm_bench: &mut ::vm_bench_runtime::Bench) {
                    __vm_bench.__whole_body_async(|| async #block)
                }
            },
        ),
        (Form::Bench { pat, ty }, false) => (
            quote!(Bench),
            quote! {
                fn #body_fn(#pat: #ty) #block
            },
        ),
        (Form::Bench { pat, ty }, true) => (
            quote!(AsyncBench),
            quote! {
                fn #body_fn(__vm_bench: #ty) {
                    let __vm_bench_rt = ::vm_bench_runtime::Bench::async_runtime(__vm_bench);
                    __vm_bench_rt.block_on(async move {
                        let #pat: #ty = __vm_bench;
                        #block
                    })
                }
            },
        ),
    };

    let kpis: Vec<TokenStream> = attr
        .kpi_order
        .iter()
        .map(|k| match k {
            KpiRef::Time => {
                let (key, ns, written) = attr.time.expect("time bound recorded with its order");
                let (ns, written) = (f64_lit(ns), f64_lit(written));
                quote!(#rt::KpiSpec::MaxTime { bound_ns: #ns, key: #key, written: #written })
            }
            KpiRef::Throughput => {
                let v = f64_lit(attr.min_ops_per_sec.expect("throughput recorded"));
                quote!(#rt::KpiSpec::MinThroughput { ops_per_sec: #v })
            }
            KpiRef::Metric(i) => {
                let (mname, op, bound) = &attr.metrics[*i];
                let op = match op {
                    MetricOp::Lt => quote!(Lt),
                    MetricOp::Le => quote!(Le),
                    MetricOp::Gt => quote!(Gt),
                    MetricOp::Ge => quote!(Ge),
                };
                let bound = f64_lit(*bound);
                quote!(#rt::KpiSpec::Metric { name: #mname, op: #rt::CmpOp::#op, bound: #bound })
            }
            KpiRef::Relative(i) => {
                let (key, bound) = attr.relative[*i];
                let kind = match key {
                    "max_overhead_pct" => quote!(MaxOverheadPct),
                    "min_speedup" => quote!(MinSpeedup),
                    "max_overhead_ns" => quote!(MaxOverheadNs),
                    _ => quote!(MinGainPct),
                };
                let bound = f64_lit(bound);
                quote!(#rt::KpiSpec::Relative { kind: #rt::RelativeKind::#kind, bound: #bound })
            }
        })
        .collect();

    let opt_f64 = |v: Option<f64>| match v {
        Some(v) => {
            let l = f64_lit(v);
            quote!(::core::option::Option::Some(#l))
        }
        None => quote!(::core::option::Option::None),
    };
    let stat = match attr.stat.as_deref() {
        Some(s) => {
            let v = format_ident!("{}", capitalize(s));
            quote!(::core::option::Option::Some(#rt::Stat::#v))
        }
        None => quote!(::core::option::Option::None),
    };
    let category = match attr.category.as_deref() {
        Some(c) => quote!(::core::option::Option::Some(#c)),
        None => quote!(::core::option::Option::None),
    };
    let flavor = match attr.flavor.as_ref().map(|(f, _)| f.as_str()) {
        Some("multi_thread") => quote!(#rt::Flavor::MultiThread),
        _ => quote!(#rt::Flavor::CurrentThread),
    };
    let flamegraph = attr.flamegraph.is_some();
    let warmup = opt_f64(attr.warmup_ms);
    let measure = opt_f64(attr.measure_ms);
    let samples = match attr.samples {
        Some(s) => {
            let s = s as u32;
            quote!(::core::option::Option::Some(#s))
        }
        None => quote!(::core::option::Option::None),
    };
    let iterations = match attr.iterations {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let line = quote_spanned!(name.span()=> ::core::line!());
    // Spanned on the name like `line`, so a failing test's panic location (the runtime's
    // `#[track_caller]`) is the `fn` line the artifact records, not the attribute's.
    // (The path is written out: tokens of `rt` carry the attribute's span.)
    let run_call = quote_spanned!(name.span()=>
        ::vm_bench_runtime::__private::run_test(&#spec_static, #body_fn)
    );

    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, clippy::needless_return)]
        #body

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #spec_static: #rt::BenchSpec = #rt::BenchSpec {
            name: #name_str,
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: #line,
            category: #category,
            kpis: &[#(#kpis),*],
            config: #rt::ConfigSpec {
                stat: #stat,
                warmup_ms: #warmup,
                measure_ms: #measure,
                samples: #samples,
                iterations: #iterations,
                flavor: #flavor,
                flamegraph: #flamegraph,
            },
            form: #rt::BodyForm::#form,
            debug_assertions: ::core::cfg!(debug_assertions),
            manifest_dir: ::core::env!("CARGO_MANIFEST_DIR"),
            opt_probe: ::core::option::Option::Some({
                // Folded to a constant by any optimizing build of this crate.
                fn probe() -> u64 {
                    let mut sum = 0u64;
                    let mut i = 0u64;
                    while i < 10_000 {
                        sum = sum.wrapping_add(i);
                        i += 1;
                    }
                    sum
                }
                probe
            }),
        };

        #[#rt::linkme::distributed_slice(#rt::BENCHMARKS)]
        #[linkme(crate = #rt::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #entry_static: #rt::BenchEntry = #rt::BenchEntry {
            spec: &#spec_static,
            body: #body_fn,
        };

        #(#attrs)*
        #vis fn #name() {
            #run_call
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
