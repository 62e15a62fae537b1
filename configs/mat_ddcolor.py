# The winning design of DACON 236420 (1st of 140 teams), end to end (docs/model_zoo.md, mat_ddcolor):
# 1. the constant-fill rule finds the damage; a small U-Net takes over where the rule is unsure
#    (frozen here: its weights come from a run that trained it, e.g. restorekit_default);
# 2. MAT (Li et al., CVPR 2022) with the published Places weights, converted once, frozen, run on
#    the grey image as RGB and averaged over six-way test-time augmentation;
# 3. DDColor-L (Kang et al., "DDColor: Towards Photo-Realistic Image Colorization via Dual
#    Decoders", ICCV 2023) fine-tuned from the released weights (converted once) on the
#    ground-truth photos alone (the grey input made from each photo, so the damaged inputs are
#    never used), with DDColor's recipe: AdamW lr 1e-4, batch 4 per GPU (4 GPUs), L1 on a*b* 0.1
#    + VGG16-bn perceptual 5.0 + GAN 1.0 + colourfulness 0.5, FMix and CutMix (p 0.5), horizontal
#    flips, colour enhancement x1.2 of the target, about 5k iterations; eight-way test-time
#    augmentation at inference.
# Weight files (docs/pretrained.md says where each comes from and how to convert it); without
# them the build stops and names the missing file:
#   weights/mat_places512.restorekit.pth    MAT Places512, tools/convert_checkpoint.py
#   weights/ddcolor_paper.restorekit.pth    DDColor-L (ddcolor_paper.pth), tools/convert_checkpoint.py
#   weights/vgg16_bn-6c64b313.pth           torchvision's ImageNet VGG16-bn (perceptual loss)
#   work_dirs/restorekit_default/iter_200000.pth   a trained detector fallback (mask_detector.*)
# The CPU-sized variant is configs/mat_ddcolor_cpu.py.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

ddcolor_weights = 'weights/ddcolor_paper.restorekit.pth'
mat_weights = 'weights/mat_places512.restorekit.pth'
vgg_weights = 'weights/vgg16_bn-6c64b313.pth'
detector_weights = 'work_dirs/restorekit_default/iter_200000.pth'
image_size = 512  # DDColor-L's published input size; the team trained at 512

model = dict(
    type='Restorer',
    # ConvNeXt (DDColor's encoder) downsamples by 32.
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18', encoder_depth=4,
                      decoder_channels=(128, 64, 32, 16))),
    # MAT from the converted Places weights: an RGB network fed the grey image (RGBInpainter) and
    # averaged over six flips/rotations (TTAInpainter). Both wrappers come from the MAT-weights
    # issue; frozen, so no inpainter losses.
    inpainter=dict(
        type='TTAInpainter',
        transforms='six_way',
        inpainter=dict(
            type='RGBInpainter',
            inpainter=dict(type='MAT', preset='mat_places512', in_channels=3))),
    # DDColor-L, eight-way test-time augmentation at inference (training sees the network alone).
    colorizer=dict(
        type='TTAColorizer',
        transforms='eight_way',
        colorizer=dict(type='DDColor', size='large')),
    frozen_stages=['mask_detector', 'inpainter'],
    stage_init=dict(
        mask_detector=detector_weights, inpainter=mat_weights, colorizer=ddcolor_weights),
    detector_losses=[],
    inpainter_losses=[],
    # The undamaged training photos have empty masks: nothing is inpainted.
    train_mask_source='gt',
    colorizer_losses=[
        # DDColor's pixel loss: L1 on a*, b* (Lab units), weight 0.1.
        dict(type='LabChromaL1Loss', loss_weight=0.1),
        # DDColor's perceptual loss: VGG16-bn, conv1_1..conv5_1 before batch norm.
        dict(type='PerceptualLoss', backbone='vgg16_bn',
             layers=('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'),
             layer_weights=(0.0625, 0.125, 0.25, 0.5, 1.0),
             weights_path=vgg_weights, loss_weight=5.0),
        # Summed over the batch as DDColor does (its 0.5 assumes 4 images per GPU).
        dict(type='ColorfulnessLoss', loss_weight=0.5, reduction='sum'),
    ],
    discriminator=dict(type='DDColorDiscriminator', in_channels=3, base_channels=64),
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=1.0),
    adversarial_stage='colorizer',
    conditional_discriminator=False,  # DDColor's critic sees the RGB output alone
)

# DDColor's data: the ground-truth photos of train.csv only, resized (no crop) to 512, mixed with
# two other photos (FMix, CutMix), flipped, the grey input taken from the photo, the colour target
# enhanced x1.2 (docs/data.md, "Training a colorizer on colour photos alone").
train_pipeline = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='Resize', scale=(image_size, image_size), keys=('gt_img', )),
    dict(type='LoadImageFromFile', key='partner1', color_type='color', out_key='partner1_img'),
    dict(type='Resize', scale=(image_size, image_size), keys=('partner1_img', )),
    dict(type='LoadImageFromFile', key='partner2', color_type='color', out_key='partner2_img'),
    dict(type='Resize', scale=(image_size, image_size), keys=('partner2_img', )),
    dict(type='FMix', prob=0.5),
    dict(type='CutMix', prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal', keys=('gt_img', )),
    dict(type='ToGray'),
    dict(type='UndamagedInput'),
    dict(type='ColorEnhance', factor=1.2),
    dict(type='PackRestorationInputs'),
]
train_dataloader = dict(
    batch_size=4,  # per GPU; the team used 4 GPUs (tools/dist_train.sh ... 4)
    dataset=dict(gt_only=True, mix_partners=2, pipeline=train_pipeline))
# Validation and test restore the real damaged inputs of the held-out rows (the base's split).

train_cfg = dict(type='IterBasedTrainLoop', max_iters=5_000, val_interval=1_000)
optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    generator=dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)),
    discriminator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)),
)
param_scheduler = []  # DDColor halves the rate from 80k iterations on: constant within 5k
default_hooks = dict(checkpoint=dict(interval=1_000))
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
