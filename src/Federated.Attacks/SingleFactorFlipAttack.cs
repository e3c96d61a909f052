using Federated.Core.Adapters;

namespace Federated.Attacks;

/// <summary>
/// single-factor-flip: uploads (-A, B) of the own honest update. In dW space it is exactly sign-flip,
/// but per factor it flips A where sign-flip flips B, so a defence that inspects B alone sees the
/// honest B.
/// </summary>
public sealed class SingleFactorFlipAttack : IAttack
{
    public string Name => "single-factor-flip";

    public LoraAdapter Craft(AttackContext context) => FactorTransform.Apply(context.OwnUpdate, (a, b) => (a.neg_(), b));
}
