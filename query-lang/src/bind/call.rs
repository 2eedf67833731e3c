//! Binding of `CALL`: arguments checked against a procedure's signature.

use super::*;

pub(super) fn argument_error(message: String, span: Span, source: &str) -> QueryError {
    QueryError::new(ErrorKind::Argument(message), span, source)
}

/// Checks a CALL against its procedure's signature.
pub(super) fn bind_call(
    call: &ast::Call,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<BoundCall, QueryError> {
    let name = &call.name;
    let Some(sig) = catalog.procedure(&name.name) else {
        let names = catalog.procedure_names();
        let hint = suggest::nearest(&name.name, names.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`?"))
            .or_else(|| {
                (!names.is_empty()).then(|| format!("procedures are {}", names.join(", ")))
            });
        return Err(QueryError::new(
            ErrorKind::UnknownProcedure {
                name: name.name.clone(),
            },
            name.span,
            source,
        )
        .with_hint_opt(hint));
    };
    let usage = format!("CALL {sig}");
    let mut given: Vec<Option<(ArgValue, Span)>> = vec![None; sig.params.len()];
    for (i, arg) in call.args.iter().enumerate() {
        let index = match &arg.name {
            None => {
                if i >= sig.params.len() {
                    let n = sig.params.len();
                    return Err(argument_error(
                        format!(
                            "too many arguments: {} takes {n} argument{}",
                            sig.name,
                            if n == 1 { "" } else { "s" }
                        ),
                        arg.span(),
                        source,
                    )
                    .with_hint(usage));
                }
                i
            }
            // Parameter names are matched like keywords, in any case.
            Some(param) => match sig
                .params
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(&param.name))
            {
                Some(j) => j,
                None => {
                    let hint =
                        suggest::nearest(&param.name, sig.params.iter().map(|p| p.name.as_str()))
                            .map(|n| format!("did you mean `{n}`?"))
                            .unwrap_or(usage);
                    return Err(argument_error(
                        format!(
                            "procedure {} has no parameter {}",
                            sig.name,
                            snippet(&param.name)
                        ),
                        param.span,
                        source,
                    )
                    .with_hint(hint));
                }
            },
        };
        let param = &sig.params[index];
        if given[index].is_some() {
            return Err(argument_error(
                format!("argument `{}` is given twice", param.name),
                arg.span(),
                source,
            )
            .with_hint(usage));
        }
        let value = bind_arg(&sig, index, &arg.value, source, catalog)?;
        given[index] = Some((value, arg.span()));
    }
    let mut args = Vec::with_capacity(sig.params.len());
    for (param, value) in sig.params.iter().zip(given) {
        let value = match (value, &param.default) {
            (Some((v, _)), _) => v,
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(argument_error(
                    format!(
                        "missing argument `{}` ({}) of {}",
                        param.name,
                        param.ty.describe(),
                        sig.name
                    ),
                    call.args_span,
                    source,
                )
                .with_hint(usage));
            }
        };
        args.push((param.name.clone(), value));
    }
    Ok(BoundCall {
        procedure: sig.name.clone(),
        args,
    })
}

/// One argument's value, checked against parameter `index` of `sig`.
pub(super) fn bind_arg(
    sig: &Signature,
    index: usize,
    value: &ast::Literal,
    source: &str,
    catalog: &dyn Catalog,
) -> Result<ArgValue, QueryError> {
    let param = &sig.params[index];
    let wrong = || {
        let err = type_error(
            format!(
                "argument `{}` of {} takes {}, found {}",
                param.name,
                sig.name,
                param.ty.describe(),
                snippet(&value.to_string())
            ),
            value.span,
            source,
        );
        match (&value.value, param.ty) {
            (ast::Value::Str(s), ParamType::Int | ParamType::Count)
                if s.trim().parse::<i64>().is_ok() =>
            {
                err.with_hint(format!("remove the quotes: {}", s.trim()))
            }
            (
                ast::Value::Int(_) | ast::Value::Bool(_),
                ParamType::Str | ParamType::Table | ParamType::Segment | ParamType::Campaign,
            ) => err.with_hint(format!("quote it: '{value}'")),
            _ => err,
        }
    };
    match (&value.value, param.ty) {
        (ast::Value::Str(s), ParamType::Str) => Ok(ArgValue::Str(s.clone())),
        (ast::Value::Str(s), ParamType::Table) => {
            let ident = Ident {
                name: s.clone(),
                span: value.span,
            };
            table_schema(&ident, source, catalog)?;
            Ok(ArgValue::Str(s.clone()))
        }
        (ast::Value::Str(s), ParamType::Segment) => {
            let ident = Ident {
                name: s.clone(),
                span: value.span,
            };
            segment_ref(&ident, source, catalog)?;
            Ok(ArgValue::Str(s.clone()))
        }
        (ast::Value::Str(s), ParamType::Campaign) => {
            if catalog.campaign(s).is_none() {
                let names = catalog.campaign_names();
                let hint = match crate::suggest::nearest(s, names.iter().map(String::as_str)) {
                    Some(n) => format!("did you mean '{n}'?"),
                    None => "SHOW CAMPAIGNS lists the campaigns".to_owned(),
                };
                return Err(QueryError::new(
                    crate::error::ErrorKind::UnknownCampaign {
                        campaign: s.clone(),
                    },
                    value.span,
                    source,
                )
                .with_hint(hint));
            }
            Ok(ArgValue::Str(s.clone()))
        }
        (ast::Value::Int(n), ParamType::Int) => Ok(ArgValue::Int(*n)),
        (ast::Value::Int(n), ParamType::Count) if *n >= 0 => Ok(ArgValue::Int(*n)),
        (ast::Value::Bool(b), ParamType::Bool) => Ok(ArgValue::Bool(*b)),
        _ => Err(wrong()),
    }
}
