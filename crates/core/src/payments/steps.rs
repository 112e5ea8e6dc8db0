//! How a flow makes a transition: read the subject, decide, plan, apply; when another
//! transition won meanwhile, read again and decide again (the decision may now differ).

use super::model::PaymentRecord;
use super::transitions::{apply, refused, NotApplied, Step, Subject};
use super::Payments;
use crate::error::{AppError, AppResult};
use crate::records::Actor;
use escrow_domain::lifecycle::{plan, Plan};
use escrow_store::DbErrorKind;

/// Lost races in a row before a step gives up with 409 `conflict`: each loss means another
/// transition of the same payment committed, so this bounds only a pathological storm.
const ATTEMPTS: usize = 8;

/// What a step did.
#[derive(Debug)]
pub(crate) enum Stepped {
    Applied(Box<Applied>),
    /// The decision was to do nothing (already done, by this caller or another).
    Skipped,
    /// The refund intent it settles was settled by someone else.
    AlreadySettled,
}

#[derive(Debug)]
pub(crate) struct Applied {
    pub before: Subject,
    pub plan: Plan,
    pub refund_id: Option<i64>,
    /// The payment as the step left it, when the plan describes all it wrote.
    pub after: Option<PaymentRecord>,
}

impl Stepped {
    /// The payment as this step left it, without reading it again when the plan tells.
    pub fn payment_after(&self) -> Option<&PaymentRecord> {
        match self {
            Stepped::Applied(applied) => applied.after.as_ref(),
            _ => None,
        }
    }
}

/// Which subject a step reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key {
    Payment(i64),
    /// An order and its latest payment, if any.
    Order(i64),
}

impl Payments {
    async fn subject(&self, key: Key) -> AppResult<Subject> {
        match key {
            Key::Payment(id) => self.load(id).await.map(Subject::from),
            Key::Order(id) => self.load_order_subject(id).await,
        }
    }

    /// Runs one transition of `key`'s subject as `decide` chooses from what it reads
    /// (`None`: nothing to do). `known` is the subject as the flow just read it: the first
    /// attempt plans from it instead of reading again (a stale one only costs a retry).
    pub(crate) async fn step(
        &self,
        key: Key,
        mut known: Option<Subject>,
        actor: &Actor,
        mut decide: impl FnMut(&Subject) -> AppResult<Option<Step>>,
    ) -> AppResult<Stepped> {
        for _ in 0..ATTEMPTS {
            let subject = match known.take() {
                Some(subject) => subject,
                None => self.subject(key).await?,
            };
            let Some(step) = decide(&subject)? else {
                return Ok(Stepped::Skipped);
            };
            let plan = plan(&subject.snapshot(), step.transition, &self.settings.rules)
                .map_err(refused)?;
            let mut tx = self.db.begin().await?;
            match apply(
                &mut tx,
                &subject,
                &plan,
                &step,
                actor,
                &self.settings.calendar,
            )
            .await
            {
                Ok(refund_id) => match tx.commit().await {
                    Ok(()) => {
                        let after = subject.payment_after(&plan, &step);
                        return Ok(Stepped::Applied(Box::new(Applied {
                            before: subject,
                            plan,
                            refund_id,
                            after,
                        })));
                    }
                    // A deadlock, or a Galera certification failure: nothing was written.
                    Err(err) if err.kind() == DbErrorKind::Conflict => continue,
                    Err(err) => return Err(err.into()),
                },
                Err(NotApplied::Stale | NotApplied::Failed(AppError::Conflict(_))) => continue,
                Err(NotApplied::RefundSettled) => return Ok(Stepped::AlreadySettled),
                Err(NotApplied::Failed(err)) => return Err(err),
            }
        }
        Err(AppError::Conflict(
            "the payment kept changing meanwhile; reload it and retry".into(),
        ))
    }

    /// `step` on a payment, starting from `payment` as the flow read it.
    pub(crate) async fn step_payment(
        &self,
        payment: &PaymentRecord,
        actor: &Actor,
        decide: impl FnMut(&PaymentRecord) -> AppResult<Option<Step>>,
    ) -> AppResult<Stepped> {
        let mut decide = decide;
        let payment_id = payment.id;
        let known = Some(Subject::from(payment.clone()));
        self.step(
            Key::Payment(payment_id),
            known,
            actor,
            |subject| match &subject.payment {
                Some(payment) => decide(payment),
                None => Err(AppError::NotFound(format!(
                    "payment {payment_id} does not exist"
                ))),
            },
        )
        .await
    }
}

impl Payments {
    /// The payment as `stepped` left it: from the plan when it tells, else read.
    pub(crate) async fn after_step(
        &self,
        payment_id: i64,
        stepped: &Stepped,
    ) -> AppResult<PaymentRecord> {
        match stepped.payment_after() {
            Some(after) => Ok(after.clone()),
            None => self.load(payment_id).await,
        }
    }
}
