namespace Federated.Attacks;

/// <summary>The attacks by name, as the CLI and simulation configs spell them.</summary>
public static class ByzantineAttacks
{
    public static readonly IReadOnlyList<string> Names =
        ["sign-flip", "scaled", "gaussian", "alie", "ipm", "min-max", "min-sum", "factor-rescaling", "single-factor-flip"];

    /// <param name="strength">
    /// The attack's numeric parameter where it has one: scaled's factor (default -10), gaussian's sigma
    /// (default: from the honest updates), ipm's epsilon (default 0.1), factor-rescaling's c (default 100).
    /// </param>
    public static IAttack Create(string name, double? strength = null)
    {
        IAttack attack = name.ToLowerInvariant() switch
        {
            "sign-flip" => new SignFlipAttack(),
            "scaled" => new ScaledAttack(strength ?? ScaledAttack.DefaultFactor),
            "gaussian" => new GaussianAttack(strength),
            "alie" => new AlieAttack(),
            "ipm" => new IpmAttack(strength ?? IpmAttack.DefaultEpsilon),
            "min-max" => new MinMaxAttack(),
            "min-sum" => new MinSumAttack(),
            "factor-rescaling" => new FactorRescalingAttack(strength ?? FactorRescalingAttack.DefaultFactor),
            "single-factor-flip" => new SingleFactorFlipAttack(),
            _ => throw new ArgumentException($"unknown attack '{name}' (expected one of: {string.Join(", ", Names)})"),
        };
        if (strength is not null && attack is SignFlipAttack or AlieAttack or OptimizedPerturbationAttack or SingleFactorFlipAttack)
            throw new ArgumentException($"attack '{attack.Name}' takes no strength parameter");
        return attack;
    }
}
