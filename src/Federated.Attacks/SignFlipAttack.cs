using Federated.Core.Adapters;

namespace Federated.Attacks;

/// <summary>sign-flip: uploads -dW of the own honest update, exactly, as (A, -B) at the own rank and alpha.</summary>
public sealed class SignFlipAttack : IAttack
{
    public string Name => "sign-flip";

    public LoraAdapter Craft(AttackContext context) => FactorTransform.Apply(context.OwnUpdate, (a, b) => (a, b.neg_()));
}
